"""Where a risk team's data lives: prices, instruments, positions, limits and the sensors' landing folders.

One definition, read by the CLI, the embedded Dagster resources (``make demo``, ``make ui``) and the sensors'
landing folders. Each setting comes from, first found wins:

1. an explicit CLI flag (``--prices``, ``--instruments``, ``--portfolio``);
2. its environment variable (``RISK_PLATFORM_PRICES``, ``_INSTRUMENTS``, ``_POSITIONS``, ``_LIMITS``,
   ``_LANDING_PRICES``, ``_LANDING_POSITIONS``: the names production reads too);
3. the project file: ``RISK_PLATFORM_CONFIG``, else ``risk_platform.yaml`` in the project root (the checkout, or
   the working directory when installed) if there is one; relative paths are relative to that file;
4. the bundled panel, sample book and limits (the landing folders default to ``<state dir>/landing/...``).

Read at call time (:func:`load_project_config`), never at import. A bad setting is a one-line InputError naming
where it came from (the file and key, or the variable).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from risk_platform import paths
from risk_platform.errors import InputError
from risk_platform.io import read_yaml

CONFIG_ENV = "RISK_PLATFORM_CONFIG"
CONFIG_FILE = "risk_platform.yaml"


@dataclass(frozen=True)
class Setting:
    """One configurable location: its environment variable, what it must be, and its default."""

    env: str
    kind: str  # "file", "file or directory" (existing) or "directory" (may not exist yet)
    default: Path | None


SETTINGS: dict[str, Setting] = {
    "prices": Setting("RISK_PLATFORM_PRICES", "file or directory", paths.BUNDLED_PRICES),
    "instruments": Setting("RISK_PLATFORM_INSTRUMENTS", "file", paths.BUNDLED_INSTRUMENTS),
    "positions": Setting("RISK_PLATFORM_POSITIONS", "file", paths.SAMPLE_PORTFOLIO),
    "limits": Setting("RISK_PLATFORM_LIMITS", "file", paths.BUNDLED_LIMITS),
    "landing_prices": Setting("RISK_PLATFORM_LANDING_PRICES", "directory", None),
    "landing_positions": Setting("RISK_PLATFORM_LANDING_POSITIONS", "directory", None),
}


@dataclass(frozen=True)
class ProjectConfig:
    """The resolved locations, and where each came from (``sources``: key -> flag, variable, file or bundled)."""

    prices: Path
    instruments: Path
    positions: Path
    limits: Path
    landing_prices: Path | None
    landing_positions: Path | None
    sources: Mapping[str, str]

    def summary(self) -> str:
        """One line: each data location and where it came from."""
        return "; ".join(f"{key} {getattr(self, key)} ({self.sources[key]})" for key in SETTINGS
                         if getattr(self, key) is not None)


def config_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The project file in use: ``RISK_PLATFORM_CONFIG`` (which must exist), else ``risk_platform.yaml`` in the
    project root (or the working directory) when present, else None."""
    environ = os.environ if environ is None else environ
    named = environ.get(CONFIG_ENV)
    if named:
        path = Path(named).expanduser().resolve()
        if not path.is_file():
            raise InputError(f"{CONFIG_ENV}: {path} {'is a directory' if path.is_dir() else 'not found'},"
                             f" expected a {CONFIG_FILE} file")
        return path
    candidate = (paths.project_root() or Path.cwd()) / CONFIG_FILE
    return candidate if candidate.is_file() else None


def read_config_file(path: Path) -> dict[str, Path]:
    """The settings a project file names, as absolute paths (relative ones are relative to the file)."""
    data = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of settings ({', '.join(SETTINGS)}), got {type(data).__name__}")
    found = {}
    for key, value in data.items():
        if key not in SETTINGS:
            raise InputError(f"{path}: unknown key '{key}' (known: {', '.join(SETTINGS)})")
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{path}: {key}: expected a path, got {value!r}")
        found[key] = (path.parent / Path(value.strip()).expanduser()).resolve()
    return found


def _checked(location: Path, setting: Setting, origin: str) -> Path:
    """``location`` if it is what the setting needs, else a one-line InputError naming ``origin``."""
    if setting.kind == "directory":
        if location.exists() and not location.is_dir():
            raise InputError(f"{origin}: {location} is a file, expected a directory")
    elif not location.exists():
        raise InputError(f"{origin}: {location} not found")
    elif setting.kind == "file" and location.is_dir():
        raise InputError(f"{origin}: {location} is a directory, expected a file")
    return location


def load_project_config(flags: Mapping[str, str | Path | None] | None = None,
                        environ: Mapping[str, str] | None = None) -> ProjectConfig:
    """Resolve every setting: ``flags`` (explicit CLI values, None = not given) > environment > project file >
    bundled defaults. Values from the environment and the file are checked here; flags are left to the loaders."""
    environ = os.environ if environ is None else environ
    flags = {key: value for key, value in (flags or {}).items() if value is not None}
    unknown = set(flags) - set(SETTINGS)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")  # a programming error, not an input
    path = config_file(environ)
    from_file = read_config_file(path) if path is not None else {}
    values: dict[str, Path | None] = {}
    sources: dict[str, str] = {}
    for key, setting in SETTINGS.items():
        if key in flags:
            values[key], sources[key] = Path(flags[key]), "flag"
        elif environ.get(setting.env):
            values[key] = _checked(Path(environ[setting.env]).expanduser().resolve(), setting, setting.env)
            sources[key] = setting.env
        elif key in from_file:
            values[key], sources[key] = _checked(from_file[key], setting, f"{path}: {key}"), str(path)
        else:
            values[key], sources[key] = setting.default, "bundled"
    return ProjectConfig(**values, sources=sources)

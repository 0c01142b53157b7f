"""Where the bundled data lives and where runtime state is written.

Nothing here reads the environment at import time: call the functions.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_MARKET_DIR = PACKAGE_DIR / "bundled" / "market"
BUNDLED_PRICES = BUNDLED_MARKET_DIR / "prices.csv"
BUNDLED_INSTRUMENTS = BUNDLED_MARKET_DIR / "instruments.csv"
SAMPLE_PORTFOLIO = PACKAGE_DIR / "bundled" / "portfolio" / "sample_book.yaml"
BUNDLED_LIMITS = PACKAGE_DIR / "bundled" / "limits" / "limits.yaml"


def project_root() -> Path | None:
    """The source checkout this package runs from, or None when installed elsewhere."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "workspace.yaml").is_file() else None


def expectations_dir() -> Path:
    """The folder of Great Expectations suites (``expectations/`` in the checkout)."""
    override = os.environ.get("RISK_PLATFORM_EXPECTATIONS_DIR")
    if override:
        return Path(override)
    root = project_root()
    if root is None:
        raise FileNotFoundError("expectations/ not found: set RISK_PLATFORM_EXPECTATIONS_DIR")
    return root / "expectations"


def state_dir() -> Path:
    """Runtime state (feature store, quarantine, reports, Dagster home): ``RISK_PLATFORM_VAR`` or ``var/``."""
    override = os.environ.get("RISK_PLATFORM_VAR")
    if override:
        return Path(override).resolve()
    root = project_root()
    return (root if root is not None else Path.cwd()) / "var"


def mlruns_dir() -> Path:
    """The embedded MLflow store's folder: ``mlruns/`` of the checkout (``sqlite:///<it>/mlflow.db``)."""
    return ((project_root() or Path.cwd()) / "mlruns").resolve()



def read_only_sqlite_uri(db: Path) -> str:
    """A SQLAlchemy URI opening the SQLite file ``db`` read-only (SQLite's URI filename, ``mode=ro``): an MLflow
    server on it shows every run, model and alias and refuses every write (an alias move is answered 503)."""
    return f"sqlite:///file:{Path(db).resolve()}?mode=ro&uri=true"

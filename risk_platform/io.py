"""Atomic file writes (a temporary file in the same folder, fsync, then rename over the target) and append-only
JSON-lines logs; strict reads of text and YAML inputs (UTF-8 only; YAML without anchors or aliases, at
most ``MAX_YAML_BYTES``, nested at most ``MAX_YAML_DEPTH`` levels).

A log line is torn when a writer died mid-``write``: the file then ends without a newline. Appending after a torn
tail first ends it with an empty line (``"\n\n"``), so the torn text stays on its own line, marked as torn, and the
new record starts on a line of its own. Reading skips a torn line (the last line, or one followed by that empty
line) with a :class:`TornLineWarning` naming the file and line; any other unreadable line is an
:class:`~risk_platform.errors.InputError` naming them.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from risk_platform.errors import BusyError, InputError

MAX_YAML_BYTES = 64 * 2**20  # a positions or limits document; 100,000 positions in block YAML take about 16 MB
MAX_YAML_DEPTH = 32  # nesting levels of a YAML input (a positions file needs 3, a limits file 4)
STAGING_NAME = re.compile(r"\..+\.tmp-[0-9a-f]{32}")  # ``.<name>.tmp-<uuid4 hex>``: see staging_path
# A writer touches its staging file until it renames it a moment later: one untouched for this long is abandoned.
STAGING_GRACE_SECONDS = 60.0


def staging_path(path: Path) -> Path:
    """The temporary file a write of ``path`` goes through: ``.<name>.tmp-<32 hex>`` in the same folder."""
    return path.parent / f".{path.name}.tmp-{uuid.uuid4().hex}"


def remove_staging_files(roots: Iterable[Path], grace_seconds: float = STAGING_GRACE_SECONDS) -> list[Path]:
    """Delete the staging files (:data:`STAGING_NAME`) a killed writer left anywhere under ``roots`` (symbolic
    links are not followed), except those modified in the last ``grace_seconds`` (a live writer's); returns
    the files removed. Complete files are never touched: a staging file was never renamed into place."""
    cutoff = time.time() - grace_seconds
    removed: set[Path] = set()
    for root in roots:
        for folder, _, files in os.walk(Path(root)):
            for name in files:
                path = Path(folder) / name
                if STAGING_NAME.fullmatch(name) and path not in removed and _modified_before(path, cutoff):
                    path.unlink(missing_ok=True)
                    removed.add(path)
    return sorted(removed)


def _modified_before(path: Path, cutoff: float) -> bool:
    try:
        return path.lstat().st_mtime < cutoff
    except FileNotFoundError:  # renamed or removed by its writer meanwhile
        return False


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file to ``path``; on failure nothing changes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(path)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write text atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


class TornLineWarning(UserWarning):
    """An append-only log ends in (or once ended in) a partly written line, skipped when read."""


def append_line(path: Path, line: str) -> None:
    """Append one line to a file in a single write and fsync it (append-only logs: nothing is rewritten). After a
    torn tail (no final newline) the write starts with ``"\n\n"``: the torn line is never glued to the record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        os.write(fd, ("\n\n" if torn else "").encode() + (line.rstrip("\n") + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json_lines(path: Path, what: str = "a JSON record") -> list[tuple[int, Any]]:
    """``(line number, parsed value)`` of every whole line of an append-only JSON-lines log (module docstring:
    a torn line is skipped with a :class:`TornLineWarning`; another unreadable line is an InputError
    ``<path> line <n>: not <what>``)."""
    lines = Path(path).read_bytes().split(b"\n")
    out = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            out.append((number, json.loads(raw.decode())))
        except (UnicodeDecodeError, json.JSONDecodeError):
            torn = number == len(lines) or (number + 1 < len(lines) and not lines[number])
            if not torn:
                raise InputError(f"{path} line {number}: not {what}") from None
            warnings.warn(f"{path} line {number}: torn line (partly written record) skipped", TornLineWarning,
                          stacklevel=2)
    return out


def write_once(path: Path, text: str) -> bool:
    """Create ``path`` with ``text`` unless it exists, atomically (a hard link of a complete temporary file:
    of concurrent writers the first wins, and no reader sees a partial file). True when this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(path)
    try:
        tmp.write_text(text)
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def decode_text(path: Path) -> str:
    """The file's text: UTF-8 (a byte-order mark is dropped); a binary or non-UTF-8 file is an InputError naming
    the line and byte."""
    data = path.read_bytes()
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise InputError(f"{path} line {line}: binary file (NUL byte), expected UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
                         ) from None


def read_yaml(path: Path) -> Any:
    """Parse a YAML input with the safe loader, refusing anchors and aliases (an alias bomb expands a few lines
    into gigabytes), documents over ``MAX_YAML_BYTES`` and nesting deeper than ``MAX_YAML_DEPTH`` (the loader
    recurses: a deep document crashes the interpreter); every problem is a one-line InputError naming the file
    (and line)."""
    if path.stat().st_size > MAX_YAML_BYTES:
        raise InputError(f"{path}: {path.stat().st_size:,} bytes; a YAML input is limited to {MAX_YAML_BYTES:,}")
    text = decode_text(path)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    depth = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            line = event.start_mark.line + 1 if event.start_mark else "?"
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise InputError(f"{path} line {line}: YAML anchors and aliases are not accepted"
                                 f" ('{getattr(event, 'anchor', '')}'); write the values out")
            depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
            if depth > MAX_YAML_DEPTH:
                raise InputError(f"{path} line {line}: YAML nested more than {MAX_YAML_DEPTH} levels deep")
        return yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as fast_error:
        exc = _python_loader_error(text) or fast_error  # libyaml's marks can point past the end of the text
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}{where}: not valid YAML ({problem})") from None


def _python_loader_error(text: str) -> yaml.YAMLError | None:
    """The pure-Python safe loader's error for ``text`` (its line numbers are the ones an editor shows)."""
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return exc
    return None


@contextmanager
def exclusive_run(lock_path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` for the duration of ``what`` (e.g. "the main job"), so a second
    one started meanwhile fails at once with a :class:`BusyError` naming the holder (pid, start time) instead of
    interleaving with it. The operating system releases the lock when the holder exits, even on kill -9, so a
    crashed run never leaves a stale lock."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise BusyError(f"{what} is already running ({holder}): wait for it to finish; lock {lock_path}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {datetime.now().isoformat(timespec='seconds')}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()

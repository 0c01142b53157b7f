"""Price updates for the live monitor: a partial snapshot (some symbols, a timestamp), validated one at a time
(a bad one is rejected with a one-line reason, the monitor keeps its state), from three sources:

* :class:`ReplaySource`: a prices file replayed at a chosen rate (tests, demos, incident reviews). A file with
  intraday timestamps (``timestamp, symbol, value``) gives one update per distinct timestamp. A daily file (the
  long ``date, symbol, value`` format of the bundled panel) has no intraday path: each day is replayed as
  ``steps_per_day`` updates on a seeded Brownian bridge in log price (in bp for yields) between the real closes,
  each update carrying a random part of the symbols, and the last one of the day every symbol at its real close.
  The synthetic path is stated in the monitor's output.
* :class:`LandingFolderSource`: files dropped in a folder (JSON ``{"time": ..., "prices": {symbol: value}}`` or
  CSV ``symbol,value[,time]``), read once each in name order and never modified.
* :class:`RedisStreamSource`: entries of a Redis stream with fields ``time`` and ``prices`` (JSON).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from risk_platform.errors import InputError


class UpdateRejected(InputError):
    """A price update that cannot be used (one line: what and where); the previous state is kept."""


@dataclass(frozen=True)
class PriceUpdate:
    """Last values of some symbols at ``time`` (UTC), from ``source`` (a file and row, a stream id)."""

    time: pd.Timestamp
    prices: dict[str, float]
    source: str


def parse_update(raw: Mapping, known: set[str] | frozenset[str], source: str,
                 after: pd.Timestamp | None = None) -> PriceUpdate:
    """A validated update from ``{"time": ..., "prices": {symbol: value}}``: a parseable time (naive = UTC) not
    before ``after``, at least one price, every symbol ``known``, every value a finite number."""
    if not isinstance(raw, Mapping):
        raise UpdateRejected(f"{source}: not an object with time and prices")
    try:
        stamp = pd.Timestamp(raw.get("time"))
    except (TypeError, ValueError):
        raise UpdateRejected(f"{source}: time {raw.get('time')!r} is not a timestamp") from None
    if stamp is pd.NaT or pd.isna(stamp):
        raise UpdateRejected(f"{source}: no time")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if after is not None and stamp < after:
        raise UpdateRejected(f"{source}: time {stamp.isoformat()} is before the last update ({after.isoformat()})")
    prices = raw.get("prices")
    if not isinstance(prices, Mapping) or not prices:
        raise UpdateRejected(f"{source}: no prices")
    out: dict[str, float] = {}
    for symbol, value in prices.items():
        if symbol not in known:
            raise UpdateRejected(f"{source}: symbol '{symbol}' is not an instrument of the book's market")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise UpdateRejected(f"{source}: {symbol} value {value!r} is not a number") from None
        if not math.isfinite(number):
            raise UpdateRejected(f"{source}: {symbol} value {value!r} is not finite")
        out[str(symbol)] = number
    return PriceUpdate(stamp, out, source)


# ------------------------------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class ReplayPlan:
    """The updates of a replay and what the monitor's state must be as of before the first: ``start_close`` (the
    last close before the replay) and, per replayed day, its close date (a day roll happens after it)."""

    updates: list[dict]  # {"time", "prices", "source", "close_of"}: close_of = the date closed by this update
    start_close: pd.Timestamp
    synthetic: str  # how an intraday path was made ('' for an intraday file)

    def first_close(self) -> pd.Timestamp | None:
        """The first close the replay reaches (the session the monitor starts in ends there)."""
        return next((pd.Timestamp(u["close_of"]) for u in self.updates if u["close_of"]), None)

    def resume_after(self, last: pd.Timestamp) -> ReplayPlan:
        """The rest of the replay after ``last`` (a restarted monitor's last update): the updates after it, starting
        from the last close before it."""
        done = [u for u in self.updates if pd.Timestamp(u["time"]) <= last]
        closed = [u["close_of"] for u in done if u["close_of"]]
        rest = [u for u in self.updates if pd.Timestamp(u["time"]) > last]
        return ReplayPlan(rest, pd.Timestamp(closed[-1]) if closed else self.start_close, self.synthetic)


def read_replay(path: Path | str, start: pd.Timestamp | None = None, updates: int | None = None,
                steps_per_day: int = 20, seed: int = 0, close_utc: str = "21:00",
                yields: frozenset[str] = frozenset()) -> ReplayPlan:
    """The replay of ``path`` from ``start`` (default: the last 250 days of a daily file, the first timestamp of an
    intraday one), ``updates`` of them at most (None: all). ``yields``: symbols quoted in percent (bridged in bp)."""
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the replay file ({' '.join(str(exc).split())})") from None
    time_col = next((c for c in ("timestamp", "time", "date") if c in frame.columns), None)
    if time_col is None or not {"symbol", "value"} <= set(frame.columns):
        raise InputError(f"{path}: a replay file needs columns timestamp (or date), symbol, value")
    stamps = pd.to_datetime(frame[time_col], errors="coerce", utc=True)
    bad = stamps.isna() | pd.to_numeric(frame["value"], errors="coerce").isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise InputError(f"{path} row {row}: time or value unreadable")
    frame = frame.assign(t=stamps, value=pd.to_numeric(frame["value"]), symbol=frame["symbol"].astype(str))
    if _has_time_of_day(frame["t"]):
        return _intraday_plan(frame, path, start, updates)
    return _daily_plan(frame, path, start, updates, steps_per_day, seed, close_utc, yields)


def replay_is_intraday(path: Path | str) -> bool:
    """Whether a replay file's times carry a time of day (else a daily file, replayed on a synthetic path)."""
    try:
        head = pd.read_csv(path, nrows=1000)
    except (OSError, ValueError):
        return False
    column = next((c for c in ("timestamp", "time", "date") if c in head.columns), None)
    return column is not None and _has_time_of_day(pd.to_datetime(head[column], errors="coerce", utc=True).dropna())


def _has_time_of_day(stamps: pd.Series) -> bool:
    return bool((stamps.dt.normalize() != stamps).any())


def _intraday_plan(frame: pd.DataFrame, path: Path, start: pd.Timestamp | None, limit: int | None) -> ReplayPlan:
    begin = pd.Timestamp(start, tz="UTC") if start is not None else frame["t"].min()
    frame = frame[frame["t"] >= begin].sort_values("t", kind="stable")
    out = [{"time": t.isoformat(), "prices": dict(zip(g["symbol"], g["value"].astype(float), strict=True)),
            "source": f"{path} @ {t.isoformat()}", "close_of": None} for t, g in frame.groupby("t", sort=True)]
    out = out[:limit] if limit else out
    if not out:
        raise InputError(f"{path}: no rows at or after {begin}")
    return ReplayPlan(out, (begin - pd.offsets.BDay(1)).tz_localize(None).normalize(), "")


def _daily_plan(frame: pd.DataFrame, path: Path, start: pd.Timestamp | None, limit: int | None, steps: int,
                seed: int, close_utc: str, yields: frozenset[str]) -> ReplayPlan:
    wide = frame.assign(date=frame["t"].dt.tz_localize(None)).pivot_table(
        index="date", columns="symbol", values="value", aggfunc="last").sort_index()
    dates = wide.index
    first = (dates[-250] if len(dates) > 250 else dates[1]) if start is None else pd.Timestamp(start)
    position = int(dates.searchsorted(first))
    if position < 1 or position >= len(dates):
        raise InputError(f"{path}: the replay start {first:%Y-%m-%d} needs a close before it and a day at or"
                         f" after it in the file ({dates[0]:%Y-%m-%d}..{dates[-1]:%Y-%m-%d})")
    rng = np.random.default_rng(seed)
    at = pd.Timedelta(f"{close_utc}:00")
    last = wide.iloc[:position].ffill().iloc[-1]
    out: list[dict] = []
    for day in dates[position:]:
        close = wide.loc[day]
        traded = close.dropna().index
        day_updates = _bridge_day(last, close[traded], day, dates[dates.get_loc(day) - 1], steps, rng, at, yields,
                                  path)
        if day_updates:  # (overnight in live use)
            day_updates[0]["prepare_close"] = f"{day:%Y-%m-%d}"
        out += day_updates
        last = last.copy()
        last.loc[traded] = close[traded]
        if limit and len(out) >= limit:
            break
    out = out[:limit] if limit else out
    closes = [item for item in out if item["close_of"]]
    for item, following in zip(closes, closes[1:], strict=False):
        item["next_close"] = following["close_of"]  # the roll's session ends at the file's next day
    following_of = {item["close_of"]: item.get("next_close") for item in closes}
    for first in (item for item in out if item.get("prepare_close")):  # the file knows each close in advance:
        first["next_close"] = following_of.get(first["prepare_close"])  # the roll is prepared while the day replays
    return ReplayPlan(out, dates[position - 1],
                      f"synthetic intraday path: {steps} updates per day on a Brownian bridge (seed {seed}) between"
                      " the file's real daily closes, the day's last update at the real close")


def _bridge_day(previous: pd.Series, close: pd.Series, day: pd.Timestamp, prior: pd.Timestamp, steps: int,
                rng: np.random.Generator, at: pd.Timedelta, yields: frozenset[str], path: Path) -> list[dict]:
    """``steps`` updates from ``prior``'s close to ``day``'s (a Brownian bridge per symbol)."""
    symbols = [s for s in close.index if s in previous.index and np.isfinite(previous[s])]
    if not symbols:
        return []
    p0, p1 = previous[symbols].to_numpy(dtype=float), close[symbols].to_numpy(dtype=float)
    in_bp = np.isin(symbols, list(yields)) | (p0 <= 0) | (p1 <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x0, x1 = np.where(in_bp, p0, np.log(p0)), np.where(in_bp, p1, np.log(p1))
    u = np.arange(1, steps + 1) / steps
    walk = np.cumsum(rng.standard_normal((steps, len(symbols))), axis=0) / math.sqrt(steps)
    bridge = walk - u[:, None] * walk[-1]
    scale = np.maximum(np.abs(x1 - x0), 1e-4) * 0.5
    path_x = x0 + u[:, None] * (x1 - x0) + bridge * scale
    values = np.where(in_bp, path_x, np.exp(path_x))
    start, end = pd.Timestamp(prior) + at, pd.Timestamp(day) + at
    out = []
    for j in range(steps):
        moment = (start + (end - start) * float(u[j])).round("s").tz_localize("UTC")
        if j == steps - 1:
            prices = {s: float(close[s]) for s in symbols}
        else:
            chosen = rng.random(len(symbols)) < 0.5
            chosen[rng.integers(len(symbols))] = True
            prices = {s: float(v) for s, v, c in zip(symbols, values[j], chosen, strict=True) if c}
        out.append({"time": moment.isoformat(), "prices": prices, "source": f"{path} {day:%Y-%m-%d} step {j + 1}",
                    "close_of": f"{day:%Y-%m-%d}" if j == steps - 1 else None})
    return out


def paced(items: list[dict], speed: float, stop: Callable[[], bool] | None = None) -> Iterator[dict]:
    """``items`` at ``speed`` per second (0: as fast as they can be processed), each with its arrival time
    (``received``, ``time.perf_counter()``), stopping early when ``stop()`` is true."""
    period = 1.0 / speed if speed > 0 else 0.0
    begin = time.perf_counter()
    for i, item in enumerate(items):
        if stop is not None and stop():
            return
        due = begin + i * period
        while (wait := due - time.perf_counter()) > 0:
            if stop is not None and stop():
                return
            time.sleep(min(wait, 0.05))
        yield {**item, "received": time.perf_counter()}


# ---------------------------------------------------------------------------------------------- landing folder


class LandingFolderSource:
    """Update files dropped in ``folder`` (``*.json``, ``*.csv``), each read once in name order, never modified or
    moved; ``seen`` names the files already read (kept in the monitor's checkpoint)."""

    def __init__(self, folder: Path | str, seen: set[str] | None = None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(f"{self.folder}: the landing folder does not exist")
        self.seen: set[str] = seen if seen is not None else set()  # shared with the monitor's checkpoint

    def poll(self) -> list[dict]:
        """The new files' updates, as raw dicts (a file that cannot be read gives a raw dict with its error)."""
        out = []
        for path in sorted(self.folder.iterdir()):
            if path.name in self.seen or path.suffix.lower() not in (".json", ".csv") or not path.is_file():
                continue
            self.seen.add(path.name)
            out.append({**_read_landing(path), "source": str(path), "received": time.perf_counter()})
        return out


def _read_landing(path: Path) -> dict:
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(path.read_text())
            return raw if isinstance(raw, dict) else {"error": f"{path}: not a JSON object"}
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        return {"error": f"{path}: unreadable ({' '.join(str(exc).split())})"}
    if not {"symbol", "value"} <= set(frame.columns):
        return {"error": f"{path}: a CSV update needs columns symbol, value[, time]"}
    stamp = frame["time"].iloc[0] if "time" in frame.columns and len(frame) else pd.Timestamp.now(tz="UTC")
    return {"time": str(stamp), "prices": dict(zip(frame["symbol"].astype(str), frame["value"], strict=True))}


class RedisStreamSource:
    """Updates from a Redis stream (fields ``time`` and ``prices`` as JSON), read after ``last_id``."""

    def __init__(self, url: str, stream: str = "risk:prices", last_id: str = "$") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=5.0)
        self.stream, self.last_id = stream, last_id

    def poll(self, block_ms: int = 200) -> list[dict]:
        entries = self.client.xread({self.stream: self.last_id}, count=100, block=block_ms) or []
        out = []
        for _, items in entries:
            for entry_id, fields in items:
                self.last_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                decoded = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                           for k, v in fields.items()}
                try:
                    prices = json.loads(decoded.get("prices", "null"))
                except ValueError:
                    prices = None
                out.append({"time": decoded.get("time"), "prices": prices, "received": time.perf_counter(),
                            "source": f"redis stream {self.stream} id {self.last_id}"})
        return out

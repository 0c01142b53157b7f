"""The live risk monitor's web page: a small HTTP server on the loopback interface that keeps the latest snapshot,
the last hour of headline figures, the open alert episodes and the recent anomalies, and serves them to a page
that polls for them (no reload, no external files: inline CSS and JavaScript, the chart drawn on a canvas).

Routes: ``/`` the page, ``/api/snapshot`` (JSON; ``?after=<snapshot_id>`` answers ``{"unchanged": true}`` while
that id is still the latest), ``/healthz``. :meth:`LivePage.publish` only stores references and one history row:
JSON is encoded when a browser asks, once per snapshot whatever the number of pollers.
"""

from __future__ import annotations

import bisect
import ipaddress
import json
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from risk_platform.errors import InputError

HISTORY_FIELDS = ("t", "var_99", "es_99", "var_95", "loss_so_far_usd", "var_limit_usd")
RECENT_ANOMALIES = 50
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                           "connect-src 'self'; img-src 'self' data:")


def loopback_host(host: str) -> str:
    """``host`` when it is a loopback address (``127.0.0.0/8``, ``::1``) or ``localhost``; else :class:`InputError`:
    the page shows a book's risk and has no authentication, so it never listens on a network interface."""
    if host == "localhost":
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise InputError(f"live page host {host!r}: not an IP address; the page listens on loopback only "
                         "(127.0.0.1, ::1 or localhost)") from None
    if not address.is_loopback:
        raise InputError(f"live page host {host!r}: not a loopback address; the page listens on loopback only "
                         "(127.0.0.1, ::1 or localhost)")
    return host


def snapshot_epoch(snapshot: Mapping[str, Any]) -> float:
    """The snapshot's ``time`` (ISO-8601; UTC when it names no zone) in seconds since the epoch."""
    value = snapshot.get("time")
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"snapshot {snapshot.get('snapshot_id')!r}: time {value!r} is not ISO-8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def limit_threshold_usd(snapshot: Mapping[str, Any], metric: str = "var_99") -> float | None:
    """The level of the snapshot's limit on ``metric`` in USD: its ``breach_threshold`` when the limit carries one
    (a stable line on the chart), else its ``threshold`` (the one crossed, or the tightest); a ``% of NAV``
    level converted with the snapshot's NAV. None without such a limit or with a unit that is not money."""
    for limit in snapshot.get("limits") or ():
        if limit.get("metric") != metric:
            continue
        level = next((limit[key] for key in ("breach_threshold", "threshold") if _finite(limit.get(key))), None)
        if level is None:
            continue
        unit = str(limit.get("unit") or "")
        if unit == "% of NAV":
            return level / 100.0 * snapshot["nav_usd"] if _finite(snapshot.get("nav_usd")) else None
        return float(level) if unit in ("USD", "") else None
    return None


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number_or_none(value: Any) -> float | None:
    return float(value) if _finite(value) else None


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None (``JSON.parse`` rejects NaN and Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


class LivePage:
    """The monitor's web page on ``http://host:port/`` (``port`` 0: a free one, see :meth:`start`'s URL), fed by
    :meth:`publish` from the monitor's thread; the server runs in a daemon thread until :meth:`stop`."""

    stale_after_s: float = 10.0  # the page shows a "stale" banner when no snapshot came for longer

    def __init__(self, host: str = "127.0.0.1", port: int = 0, history_s: float = 3600.0) -> None:
        if not _finite(history_s) or history_s <= 0:
            raise InputError(f"live page history_s {history_s!r}: must be a positive number of seconds")
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise InputError(f"live page port {port!r}: must be an integer in 0..65535")
        self.host, self.port, self.history_s = loopback_host(host), port, float(history_s)
        self._lock = threading.Lock()
        self._latest: dict[str, Any] | None = None
        self._received_at: float | None = None  # time.monotonic() of the latest publish
        self._history: list[tuple] = []  # HISTORY_FIELDS rows, ordered on t (the snapshot's time)
        self._anomalies: deque[dict] = deque(maxlen=RECENT_ANOMALIES)
        self._published = 0
        self._encoded: tuple[int, str] | None = None  # (published count, JSON of the data) for the pollers
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- the monitor's side ------------------------------------------------------------------------------------
    def publish(self, snapshot: dict) -> None:
        """Keep ``snapshot`` as the latest, add its history row (replacing one at the same time; rows older than
        ``history_s`` before the newest are dropped) and its anomalies. Thread-safe; stores references, so the
        caller must not mutate a snapshot once published."""
        if "snapshot_id" not in snapshot:
            raise InputError(f"snapshot without snapshot_id (keys: {sorted(snapshot)[:8]})")
        t = snapshot_epoch(snapshot)
        row = (t, _number_or_none(snapshot.get("var_99")), _number_or_none(snapshot.get("es_99")),
               _number_or_none(snapshot.get("var_95")), _number_or_none(snapshot.get("loss_so_far_usd")),
               limit_threshold_usd(snapshot))
        anomalies = snapshot.get("anomalies") or ()
        with self._lock:
            history = self._history
            if not history or t > history[-1][0]:
                history.append(row)
            elif t == history[-1][0]:
                history[-1] = row
            else:  # out of order: keep the rows sorted on time
                at = bisect.bisect_left(history, t, key=lambda r: r[0])
                if at < len(history) and history[at][0] == t:
                    history[at] = row
                else:
                    history.insert(at, row)
            cutoff = history[-1][0] - self.history_s
            if history[0][0] < cutoff:
                del history[:bisect.bisect_left(history, cutoff, key=lambda r: r[0])]
            self._anomalies.extend(anomalies)
            self._latest = snapshot
            self._received_at = time.monotonic()
            self._published += 1

    # -- the server ----------------------------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving (once); returns the page's URL with the port bound."""
        if self._server is None:
            server_class = _IPv6Server if ":" in self.host else ThreadingHTTPServer
            server = server_class((self.host, self.port), _handler_for(self))
            server.daemon_threads = True
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                            name=f"live-page-{server.server_address[1]}", daemon=True)
            self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the live page is not started (call start())")
        port = self._server.server_address[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}/"

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> LivePage:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the routes answer ----------------------------------------------------------------------------------
    def api_body(self, after: int | None = None) -> bytes:
        """The ``/api/snapshot`` answer: ``{"unchanged": true, ...}`` when ``after`` is still the latest snapshot
        id, else the latest snapshot, the history, the open alerts and the recent anomalies; ``age_s`` is the
        time since the latest publish (None before the first)."""
        with self._lock:
            latest, received_at, published = self._latest, self._received_at, self._published
            encoded = self._encoded
            unchanged = latest is not None and after is not None and after == latest.get("snapshot_id")
            if latest is not None and not unchanged and (encoded is None or encoded[0] != published):
                history, anomalies = list(self._history), list(self._anomalies)
            else:
                history = anomalies = None
        age = None if received_at is None else round(time.monotonic() - received_at, 3)
        head = (f'"age_s": {json.dumps(age)}, "published": {published}, "history_s": {json.dumps(self.history_s)}, '
                f'"stale_after_s": {json.dumps(self.stale_after_s)}')
        if latest is None:
            return f'{{{head}, "snapshot": null}}'.encode()
        if unchanged:
            return f'{{{head}, "unchanged": true, "snapshot_id": {json.dumps(latest["snapshot_id"])}}}'.encode()
        if history is not None:  # first request since this publish: encode once
            data = json.dumps({**json_safe({"snapshot": latest, "alerts_open": latest.get("alerts_open") or [],
                                            "anomalies": anomalies[::-1]}),
                               "history": {"fields": HISTORY_FIELDS, "rows": history}}, allow_nan=False)
            encoded = (published, data)
            with self._lock:
                if self._encoded is None or self._encoded[0] < published:
                    self._encoded = encoded
        return f'{{{head}, {encoded[1][1:]}'.encode()

    def health_body(self) -> bytes:
        with self._lock:
            latest, published = self._latest, self._published
        return json.dumps({"status": "ok", "published": published,
                           "snapshot_id": None if latest is None else latest.get("snapshot_id")}).encode()


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler_for(page: LivePage) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "risk-platform-live/1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlsplit(self.path)
            if url.path == "/":
                self._send(200, PAGE_HTML.encode(), "text/html; charset=utf-8")
            elif url.path == "/api/snapshot":
                after = parse_qs(url.query).get("after", [""])[0]
                try:
                    after_id = int(after) if after else None
                except ValueError:
                    self._send(400, json.dumps({"error": f"after={after!r}: not a snapshot id"}).encode(),
                               "application/json")
                    return
                self._send(200, page.api_body(after_id), "application/json")
            elif url.path == "/healthz":
                self._send(200, page.health_body(), "application/json")
            else:
                self._send(404, json.dumps({"error": f"no route {url.path}"}).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            pass  # one line per poll twice a second would drown the monitor's log

    return Handler


PAGE_HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Live risk monitor</title>
<style>
  :root { --ok: #2e7d32; --warn: #f9a825; --breach: #c62828; --na: #9e9e9e; --ink: #1d2433; --muted: #5f6b7a;
          --line: #dde3ea; --card: #ffffff; --bg: #f4f6f9; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
         background: var(--bg); }
  header { display: flex; flex-wrap: wrap; gap: 6px 24px; align-items: baseline; padding: 12px 20px;
           background: #1d2433; color: #fff; }
  header h1 { font-size: 18px; margin: 0 12px 0 0; font-weight: 600; }
  header .meta { color: #c5ccd6; font-size: 13px; }
  header .meta b { color: #fff; font-weight: 600; }
  main { padding: 14px 20px 30px; max-width: 1560px; }
  .banner { padding: 10px 14px; border-radius: 6px; margin-bottom: 12px; font-weight: 600; }
  .banner.waiting { background: #e3f2fd; color: #0d47a1; border: 1px solid #90caf9; }
  .banner.stale { background: #fff3e0; color: #8a4b00; border: 1px solid #ffb74d; }
  .banner.down { background: #ffebee; color: #8e0000; border: 1px solid #ef9a9a; }
  [hidden] { display: none !important; }
  .grid { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; margin-bottom: 12px; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
  .card h2 { font-size: 12px; letter-spacing: .04em; text-transform: uppercase; color: var(--muted); margin: 0 0 4px;
             font-weight: 600; }
  .figure { font-size: 30px; font-weight: 700; font-variant-numeric: tabular-nums; }
  .sub { color: var(--muted); font-size: 12.5px; }
  .bar { height: 8px; background: #eceff3; border-radius: 4px; overflow: hidden; margin: 8px 0 4px; }
  .bar > div { height: 100%; width: 0; background: var(--na); transition: width .3s; }
  .card[data-status="ok"] .bar > div { background: var(--ok); }
  .card[data-status="warn"] .bar > div { background: var(--warn); }
  .card[data-status="breach"] .bar > div { background: var(--breach); }
  .card[data-status="breach"] { border-color: var(--breach); box-shadow: 0 0 0 1px var(--breach) inset; }
  .card[data-status="warn"] { border-color: var(--warn); }
  .status { display: inline-block; padding: 0 6px; border-radius: 3px; color: #fff; font-size: 11.5px;
            font-weight: 600; background: var(--na); text-transform: uppercase; }
  .status.ok { background: var(--ok); } .status.warn { background: var(--warn); color: #3b2a00; }
  .status.breach { background: var(--breach); }
  .row2 { display: grid; grid-template-columns: 1fr 1fr 2fr 2fr; gap: 12px; margin-bottom: 12px; }
  .value { font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }
  .chart-card { margin-bottom: 12px; }
  .chart-card .head { display: flex; justify-content: space-between; align-items: baseline; }
  canvas { width: 100%; height: 320px; display: block; }
  .tables { display: grid; grid-template-columns: 1fr 1fr 1fr; gap: 12px; }
  table { width: 100%; border-collapse: collapse; font-size: 13px; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { color: var(--muted); font-weight: 600; font-size: 12px; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .empty td { color: var(--muted); font-style: italic; }
  ul.plain { margin: 0; padding-left: 16px; }
  @media (max-width: 1100px) { .grid, .row2, .tables { grid-template-columns: 1fr 1fr; } }
</style>
</head>
<body>
<header>
  <h1>Live risk &mdash; <span id="portfolio">&hellip;</span></h1>
  <span class="meta">snapshot <b id="snapshot-id">&mdash;</b></span>
  <span class="meta">price time <b id="snapshot-time">&mdash;</b></span>
  <span class="meta">from close <b id="asof">&mdash;</b></span>
  <span class="meta">latency <b id="latency">&mdash;</b></span>
  <span class="meta">last update <b id="last-update">never</b></span>
</header>
<main>
  <div id="waiting" class="banner waiting">Waiting for the first snapshot from the monitor&hellip;</div>
  <div id="stale" class="banner stale" hidden></div>
  <div id="unreachable" class="banner down" hidden>The monitor's page server does not answer: the figures below are
    the last ones received.</div>

  <section class="grid">
    <div class="card" id="card-var99" data-status="not_evaluated"><h2>VaR 99% (1 day)</h2>
      <div class="figure" id="var99">&mdash;</div><div class="bar"><div id="var99-bar"></div></div>
      <div class="sub"><span id="var99-util">&mdash;</span><span id="var99-limit"></span></div></div>
    <div class="card" id="card-es99" data-status="not_evaluated"><h2>ES 99% (1 day)</h2>
      <div class="figure" id="es99">&mdash;</div><div class="bar"><div id="es99-bar"></div></div>
      <div class="sub"><span id="es99-util">&mdash;</span><span id="es99-limit"></span></div></div>
    <div class="card" id="card-var95" data-status="not_evaluated"><h2>VaR 95% (1 day)</h2>
      <div class="figure" id="var95">&mdash;</div><div class="bar"><div id="var95-bar"></div></div>
      <div class="sub"><span id="var95-util">&mdash;</span><span id="var95-limit"></span></div></div>
    <div class="card" id="card-es95" data-status="not_evaluated"><h2>ES 95% (1 day)</h2>
      <div class="figure" id="es95">&mdash;</div><div class="bar"><div id="es95-bar"></div></div>
      <div class="sub"><span id="es95-util">&mdash;</span><span id="es95-limit"></span></div></div>
  </section>

  <section class="row2">
    <div class="card"><h2>Loss so far today</h2><div class="value" id="loss-so-far">&mdash;</div>
      <div class="sub" id="loss-pct">&nbsp;</div></div>
    <div class="card"><h2>NAV</h2><div class="value" id="nav">&mdash;</div>
      <div class="sub">vol 1d <span id="portfolio-vol">&mdash;</span> &middot; diversification
        <span id="diversification">&mdash;</span></div></div>
    <div class="card"><h2>Remaining horizon</h2><div id="horizon">&mdash;</div><div class="sub" id="horizon-left"></div>
      <h2 style="margin-top:8px">Bound by</h2><ul class="plain" id="bound-by"></ul></div>
    <div class="card"><h2>Models <span class="status" id="models-status">&mdash;</span></h2>
      <div class="sub" id="model-versions">&mdash;</div>
      <table style="margin-top:6px"><thead><tr><th>method</th><th class="num">VaR 95</th><th class="num">VaR 99</th>
        <th class="num">ES 95</th><th class="num">ES 99</th></tr></thead><tbody id="methods-body"></tbody></table></div>
  </section>

  <section class="card chart-card">
    <div class="head"><h2 id="history-title">The last hour</h2>
      <span class="sub" id="history-points" data-count="0">no points yet</span></div>
    <canvas id="history-chart" data-points="0"></canvas>
  </section>

  <section class="tables">
    <div class="card"><h2>Open alert episodes</h2>
      <table><thead><tr><th>limit</th><th>status</th><th>opened</th><th>message</th></tr></thead>
        <tbody id="alerts-body"><tr class="empty"><td colspan="4">none</td></tr></tbody></table></div>
    <div class="card"><h2>Limits</h2>
      <table><thead><tr><th>limit</th><th class="num">figure</th><th class="num">threshold</th>
        <th class="num">used</th><th>status</th></tr></thead>
        <tbody id="limits-body"><tr class="empty"><td colspan="5">none</td></tr></tbody></table></div>
    <div class="card"><h2>Recent anomalies</h2>
      <table><thead><tr><th>time</th><th>metric</th><th class="num">value</th><th>expected</th>
        <th>message</th></tr></thead>
        <tbody id="anomalies-body"><tr class="empty"><td colspan="5">none</td></tr></tbody></table></div>
  </section>
</main>
<script>
"use strict";
window.livePage = { loadedAt: Date.now(), token: Math.random().toString(36).slice(2), renders: 0, polls: 0,
                    snapshotId: null };
const state = { data: null, updatedAt: null, staleAfter: 10, reachable: true };
const COLOURS = { var_99: "#1565c0", es_99: "#6a1b9a", var_95: "#64b5f6", loss_so_far_usd: "#ef6c00",
                  var_limit_usd: "#c62828", anomaly: "#d50000" };
const FIGURES = [["var99", "var_99"], ["es99", "es_99"], ["var95", "var_95"], ["es95", "es_95"]];

function $(id) { return document.getElementById(id); }
function setText(id, text) { $(id).textContent = text; }
function finite(v) { return typeof v === "number" && isFinite(v); }
function money(v) {
  if (!finite(v)) return "n/a";
  const sign = v < 0 ? "-" : "", size = Math.abs(v);
  for (const [scale, suffix] of [[1e9, "bn"], [1e6, "m"], [1e3, "k"]]) {
    if (size >= scale * (1 - 5e-4)) {
      const x = size / scale;
      return sign + "$" + (x >= 999.5 ? Math.round(x).toLocaleString("en-US") : x.toPrecision(3)) + suffix;
    }
  }
  return sign + "$" + Math.round(size).toLocaleString("en-US");
}
function amount(v) {  // money from 1,000 up (a USD figure), else 4 significant figures (a ratio, a z-score)
  if (!finite(v)) return String(v ?? "n/a");
  return Math.abs(v) >= 1000 ? money(v) : String(+v.toPrecision(4));
}
function pct(fraction, digits) { return finite(fraction) ? (100 * fraction).toFixed(digits) + "%" : "n/a"; }
function utcTime(seconds, withDate) {
  const iso = new Date(seconds * 1000).toISOString();
  return withDate ? iso.slice(0, 19).replace("T", " ") + " UTC" : iso.slice(11, 19);
}
function isoSeconds(text) { const t = Date.parse(text); return isFinite(t) ? t / 1000 : null; }
function shortTime(text) { const t = isoSeconds(text); return t === null ? String(text ?? "") : utcTime(t, false); }
function threshold(limit, nav) {
  if (!limit || !finite(limit.threshold)) return "n/a";
  if (limit.unit === "% of NAV") {
    return limit.threshold.toFixed(2) + "% of NAV (" + money(limit.threshold / 100 * nav) + ")";
  }
  if (limit.unit === "USD" || !limit.unit) return money(limit.threshold);
  return limit.threshold + " " + limit.unit;
}
function fillRows(tbodyId, rows, columns) {
  const body = $(tbodyId);
  body.replaceChildren();
  if (!rows.length) {
    const tr = body.insertRow(); tr.className = "empty";
    const td = tr.insertCell(); td.colSpan = columns; td.textContent = "none";
    return;
  }
  for (const cells of rows) {
    const tr = body.insertRow();
    for (const cell of cells) {
      const td = tr.insertCell();
      if (cell && typeof cell === "object") {
        if (cell.status !== undefined) {
          const tag = document.createElement("span");
          tag.className = "status " + cell.status; tag.textContent = cell.status; td.appendChild(tag);
        } else { td.textContent = cell.text; td.className = cell.cls || ""; }
      } else td.textContent = cell ?? "";
    }
  }
}

function windowTitle(seconds) {
  if (!finite(seconds) || seconds <= 3600) return "The last hour";
  if (seconds < 2 * 86400) return `The last ${Math.round(seconds / 3600)} hours`;
  return `The last ${Math.round(seconds / 86400)} days`;
}

function render(body) {
  $("history-title").textContent = windowTitle(body.history_s);
  const s = body.snapshot, nav = s.nav_usd;
  state.data = body;
  setText("portfolio", s.portfolio ?? "portfolio");
  setText("snapshot-id", String(s.snapshot_id));
  setText("snapshot-time", finite(isoSeconds(s.time)) ? utcTime(isoSeconds(s.time), true) : String(s.time));
  setText("asof", s.asof ?? "n/a");
  setText("latency", finite(s.latency_ms) ? s.latency_ms.toFixed(1) + " ms" : "n/a");
  const limits = s.limits || [];
  for (const [id, key] of FIGURES) {
    setText(id, money(s[key]));
    const limit = limits.find(l => l.metric === key);
    const card = $("card-" + id), bar = $(id + "-bar");
    card.dataset.status = limit ? limit.status : "not_evaluated";
    const used = limit && finite(limit.utilisation) ? limit.utilisation : null;
    bar.style.width = used === null ? "0" : Math.min(100, 100 * used).toFixed(1) + "%";
    const flag = limit && limit.status !== "ok" ? " (" + limit.status.replace("_", " ") + ")" : "";
    setText(id + "-util", used === null ? (limit ? limit.status.replace("_", " ") : "no limit on this figure")
                                        : pct(used, 0) + " of limit" + flag);
    setText(id + "-limit", limit ? " · limit " + threshold(limit, nav) : "");
  }
  setText("loss-so-far", money(s.loss_so_far_usd));
  setText("loss-pct", finite(s.loss_so_far_usd) && finite(nav) && nav ? pct(s.loss_so_far_usd / nav, 2) + " of NAV" +
          (s.loss_so_far_usd < 0 ? " (a gain)" : "") : "");
  setText("nav", money(nav));
  setText("portfolio-vol", money(s.portfolio_volatility));
  setText("diversification", finite(s.diversification_ratio) ? s.diversification_ratio.toFixed(2) + "x" : "n/a");
  const horizon = s.horizon || {};
  setText("horizon", horizon.statement || "n/a");
  const left = horizon.remaining_fraction;
  setText("horizon-left", finite(left) ? pct(left, 0) + " of the trading day left" : "");
  const bound = $("bound-by"); bound.replaceChildren();
  for (const [figure, text] of Object.entries(s.bound_by || {})) {
    const li = document.createElement("li"); li.textContent = figure + ": " + text; bound.appendChild(li);
  }
  setText("model-versions", (s.model_versions || []).join(", ") || "none");
  const models = $("models-status"); models.textContent = s.models_status || "n/a";
  models.className = "status " + (/^(ok|healthy|ready|loaded)/i.test(s.models_status || "") ? "ok" : "warn");
  fillRows("methods-body", Object.entries(s.methods || {}).map(([name, m]) =>
    [name, ...["var_95", "var_99", "es_95", "es_99"].map(k => ({ text: money(m[k]), cls: "num" }))]), 5);
  fillRows("limits-body", limits.map(l => [l.limit,
    { text: amount(l.figure) + (finite(l.figure) && l.unit && l.unit !== "USD" ? " " + l.unit : ""), cls: "num" },
    { text: amount(l.threshold), cls: "num" }, { text: pct(l.utilisation, 0), cls: "num" }, { status: l.status }]), 5);
  fillRows("alerts-body", (body.alerts_open || []).map(a =>
    [a.limit, { status: a.status }, shortTime(a.opened_at), a.message]), 4);
  fillRows("anomalies-body", (body.anomalies || []).map(a => [shortTime(a.time), a.metric,
    { text: amount(a.value), cls: "num" }, amount(a.low) + " .. " + amount(a.high), a.message]), 5);
  const count = body.history.rows.length;
  const points = $("history-points");
  points.dataset.count = String(count);
  points.textContent = count + (count === 1 ? " point" : " points") + " · VaR limit dashed · anomalies ◆";
  $("history-chart").dataset.points = String(count);
  drawChart();
  window.livePage.snapshotId = s.snapshot_id;
  window.livePage.renders += 1;
}

function drawChart() {
  const canvas = $("history-chart"), body = state.data;
  const ratio = window.devicePixelRatio || 1, width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = Math.round(width * ratio); canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  g.font = "12px system-ui, sans-serif";
  if (!body || !body.history.rows.length) {
    g.fillStyle = "#5f6b7a"; g.fillText("no history yet", 20, 30); return;
  }
  const fields = body.history.fields, rows = body.history.rows;
  const col = name => fields.indexOf(name);
  const plotted = ["var_99", "es_99", "var_95", "loss_so_far_usd", "var_limit_usd"];
  const tMax = rows[rows.length - 1][0];
  let tMin = Math.max(rows[0][0], tMax - body.history_s);
  if (tMax - tMin < 60) tMin = tMax - 60;
  const anomalies = (body.anomalies || []).map(a => ({ ...a, t: isoSeconds(a.time) }))
    .filter(a => a.t !== null && a.t >= tMin && a.t <= tMax);
  let yMin = 0, yMax = 0;
  for (const row of rows) for (const name of plotted) {
    const v = row[col(name)]; if (finite(v)) { yMin = Math.min(yMin, v); yMax = Math.max(yMax, v); }
  }
  for (const a of anomalies) if (plotted.includes(a.metric) && finite(a.value)) {
    yMin = Math.min(yMin, a.value); yMax = Math.max(yMax, a.value);
  }
  if (yMax <= yMin) yMax = yMin + 1;
  const rough = (yMax - yMin) * 1.05 / 4, power = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = power * [1, 2, 2.5, 5, 10].find(m => m * power >= rough);  // round ticks: $500k, $1.00m, ...
  yMin = Math.floor(yMin / step) * step; yMax = Math.ceil(yMax * 1.05 / step) * step;
  const left = 64, right = 16, top = 28, bottom = 26;
  const x = t => left + (t - tMin) / (tMax - tMin) * (width - left - right);
  const y = v => top + (yMax - v) / (yMax - yMin) * (height - top - bottom);
  g.strokeStyle = "#dde3ea"; g.fillStyle = "#5f6b7a"; g.lineWidth = 1;
  g.textAlign = "right"; g.textBaseline = "middle";
  for (let v = yMin; v <= yMax + step / 2; v += step) {
    const py = y(v);
    g.beginPath(); g.moveTo(left, py); g.lineTo(width - right, py); g.stroke();
    g.fillText(money(v), left - 6, py);
  }
  g.textBaseline = "top";
  for (let i = 0; i <= 5; i++) {
    const t = tMin + (tMax - tMin) * i / 5, px = x(t);
    g.textAlign = i === 0 ? "left" : i === 5 ? "right" : "center";
    g.beginPath(); g.moveTo(px, height - bottom); g.lineTo(px, height - bottom + 4); g.stroke();
    g.fillText(utcTime(t, false), px, height - bottom + 6);
  }
  const line = (name, width_, dash) => {
    const c = col(name); g.strokeStyle = COLOURS[name]; g.lineWidth = width_; g.setLineDash(dash);
    g.beginPath(); let pen = false;
    for (const row of rows) {
      if (row[0] < tMin || !finite(row[c])) { pen = false; continue; }
      if (pen) g.lineTo(x(row[0]), y(row[c])); else { g.moveTo(x(row[0]), y(row[c])); pen = true; }
    }
    g.stroke(); g.setLineDash([]);
  };
  line("var_limit_usd", 1.5, [6, 4]); line("var_95", 1, []); line("loss_so_far_usd", 1.5, []);
  line("es_99", 2, []); line("var_99", 2.2, []);
  if (rows.length < 40) for (const row of rows) if (row[0] >= tMin && finite(row[col("var_99")])) {
    g.fillStyle = COLOURS.var_99; g.beginPath(); g.arc(x(row[0]), y(row[col("var_99")]), 2.5, 0, 2 * Math.PI); g.fill();
  }
  for (const a of anomalies) {
    const px = x(a.t), py = plotted.includes(a.metric) && finite(a.value) ? y(a.value) : top + 6;
    g.strokeStyle = COLOURS.anomaly; g.setLineDash([2, 3]); g.lineWidth = 1;
    g.beginPath(); g.moveTo(px, top); g.lineTo(px, height - bottom); g.stroke(); g.setLineDash([]);
    g.fillStyle = COLOURS.anomaly; g.beginPath();
    g.moveTo(px, py - 6); g.lineTo(px + 6, py); g.lineTo(px, py + 6); g.lineTo(px - 6, py); g.closePath(); g.fill();
  }
  const legend = [["VaR 99", "var_99"], ["ES 99", "es_99"], ["VaR 95", "var_95"], ["loss so far", "loss_so_far_usd"],
                  ["VaR 99 limit", "var_limit_usd"], ["anomaly", "anomaly"]];
  g.textAlign = "left"; g.textBaseline = "middle"; let lx = left;
  for (const [label, key] of legend) {
    g.strokeStyle = COLOURS[key]; g.lineWidth = 2.5; g.setLineDash(key === "var_limit_usd" ? [6, 4] : []);
    g.beginPath(); g.moveTo(lx, 12); g.lineTo(lx + 18, 12); g.stroke(); g.setLineDash([]);
    g.fillStyle = "#1d2433"; g.fillText(label, lx + 22, 12); lx += 32 + g.measureText(label).width;
  }
}

function tick() {
  const waiting = state.data === null;
  $("waiting").hidden = !waiting;
  $("unreachable").hidden = state.reachable;
  if (state.updatedAt === null) { setText("last-update", "never"); $("stale").hidden = true; return; }
  const age = Math.max(0, (Date.now() - state.updatedAt) / 1000);
  setText("last-update", (age < 10 ? age.toFixed(1) : Math.round(age)) + " s ago");
  const stale = age > state.staleAfter;
  $("stale").hidden = !stale;
  if (stale) setText("stale", "Stale: no update for " + Math.round(age) + " s (more than " + state.staleAfter +
                     " s); the figures below are from snapshot " + window.livePage.snapshotId + ".");
}

async function poll() {
  window.livePage.polls += 1;
  try {
    const after = window.livePage.snapshotId === null ? "" : "?after=" + encodeURIComponent(window.livePage.snapshotId);
    const reply = await fetch("/api/snapshot" + after, { cache: "no-store" });
    const body = await reply.json();
    state.reachable = true;
    if (finite(body.stale_after_s)) state.staleAfter = body.stale_after_s;
    if (finite(body.age_s)) state.updatedAt = Date.now() - body.age_s * 1000;
    if (body.snapshot && body.snapshot.snapshot_id !== window.livePage.snapshotId) render(body);
  } catch (error) {
    state.reachable = false;
  }
  tick();
  setTimeout(poll, 500);
}

window.addEventListener("resize", drawChart);
setInterval(tick, 1000);
drawChart();
poll();
</script>
</body>
</html>
"""

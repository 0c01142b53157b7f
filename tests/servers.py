"""Throwaway servers for the integration tests: a free port on 127.0.0.1, polling until a server answers,
stopping the process group a test started, and ``redis-server`` from the system binary in a temporary folder
(CI installs it: ``.ci/run`` -> ``make system-deps``)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REDIS_MISSING = "redis-server not found (apt-get install redis-server; CI does: make system-deps)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float, what: str, logs: list[Path] = ()) -> None:
    """Poll ``condition`` every half second; fail naming ``what`` and the tails of ``logs`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {log}:\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    pytest.fail(f"{what} not within {timeout:.0f} s\n{tails}")


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def stop_group(process: subprocess.Popen) -> None:
    """Terminate the process group this test started (``start_new_session``), then kill what is left."""
    if process.poll() is None or _group_alive(process.pid):
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``redis-server`` on 127.0.0.1 and a free port, its files in ``folder``, no RDB snapshots. ``persistent``:
    an append-only file fsync'd on every write, so a killed server restarted on the same folder has every
    acknowledged write. Use as a context manager (it is stopped on exit); :meth:`kill` and :meth:`start` again
    simulate a crash and a restart on the same port."""

    def __init__(self, folder: Path, persistent: bool = False) -> None:
        binary = redis_binary()
        if binary is None:
            pytest.skip(REDIS_MISSING)
        self.binary, self.folder, self.persistent = binary, Path(folder), persistent
        self.port = free_port()
        self.log = self.folder / "redis.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        durability = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", *durability,
             "--dir", str(self.folder), "--logfile", str(self.log), "--protected-mode", "yes"],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(lambda: redis_answers(self.port), 30, "redis-server answering PING", [self.log])
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

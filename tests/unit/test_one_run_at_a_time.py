"""The main job and the promotion run one at a time: a lock for the embedded main job and promotion (the second
fails at once naming the first), a tag concurrency limit in the production instance (the second waits)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from risk_platform.errors import BusyError
from risk_platform.io import exclusive_run

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from risk_platform.io import exclusive_run
with exclusive_run(sys.argv[1], "the main job"):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def held_lock(tmp_path):
    """A real second process holding the main job's lock; killed (-9) at the end."""
    lock = tmp_path / "var" / "locks" / "main_job.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    yield lock, holder
    holder.kill()
    holder.wait()


def test_a_second_holder_fails_naming_the_first_and_a_killed_holder_leaves_no_stale_lock(held_lock):
    lock, holder = held_lock
    with pytest.raises(BusyError, match=rf"the main job is already running \(pid {holder.pid} since "):
        with exclusive_run(lock, "the main job"):
            pass
    os.kill(holder.pid, signal.SIGKILL)  # the operating system releases the lock of a killed holder
    holder.wait()
    with exclusive_run(lock, "the main job"):
        assert f"pid {os.getpid()}" in lock.read_text()
    assert lock.read_text() == ""


def test_a_second_demo_exits_4_with_one_line_while_the_main_job_runs(held_lock, tmp_path):
    lock, holder = held_lock
    env = {**os.environ, "RISK_PLATFORM_VAR": str(tmp_path / "var")}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "import sys; from jobs.demo import main; sys.exit(main())"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("\n") == 1 and f"the main job is already running (pid {holder.pid}" in done.stderr
    assert time.perf_counter() - started < 60  # it failed at once, it did not wait for the first


def test_the_production_instance_queues_a_second_main_job_or_promotion():
    from jobs import promote_models, risk_pipeline

    assert risk_pipeline.tags["risk_platform/job"] == "main"
    assert promote_models.tags["risk_platform/job"] == "promotion"
    for name in ("production.yaml", "k8s.yaml"):
        config = yaml.safe_load((ROOT / "resources" / "instance" / name).read_text())
        limits = config["run_coordinator"]["config"]["tag_concurrency_limits"]
        one_at_a_time = {lim["value"] for lim in limits if lim["key"] == "risk_platform/job" and lim["limit"] == 1}
        assert {"main", "promotion"} <= one_at_a_time, name

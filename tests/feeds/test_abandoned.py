"""A worker killed mid-execution (SIGKILL, worker and work horse) leaves no run "processing":
a real ``python -m jobs.worker`` is killed while a feed runs against a slowed sandbox, a
second worker starts, the sweep marks the run abandoned and the retry finishes the job."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests
from sqlalchemy import select

from tests.feeds.conftest import feed_of, fresh, runs_of
from webapp.extensions import db, queue, redis_connection
from webapp.models import Message, Order, ParkedOrder, Run
from webapp.models import runs as R
from webapp.runs import lifecycle, liveness

ROOT = Path(__file__).resolve().parent.parent.parent
DONE = (R.COMPLETED, R.COMPLETED_WITH_ERRORS)


def start_worker(app, sandbox: str, log: Path) -> subprocess.Popen:
    cfg = app.config
    env = {
        **os.environ,
        "MERCATO_ENV": "test",
        "DATABASE_URL": cfg["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": cfg["REDIS_URL"],
        "MERCATO_WORK_DIR": cfg["MERCATO_WORK_DIR"],
        "SECRET_KEY": cfg["SECRET_KEY"],
        "MERCATO_ENCRYPTION_KEYS": ",".join(cfg["MERCATO_ENCRYPTION_KEYS"]),
        "MERCATO_QUEUE_PREFIX": cfg["MERCATO_QUEUE_PREFIX"],
        "MERCATO_OUTBOUND_ALLOW": sandbox.removeprefix("http://"),
        "MERCATO_RUN_HEARTBEAT_TTL": "2",
        # The test app's backoff (tests/feeds/conftest.py sets 0.01 s): the same retries,
        # without the production seconds of sleep between them.
        "MERCATO_CONNECTOR_BACKOFF_BASE": str(cfg["MERCATO_CONNECTOR_BACKOFF_BASE"]),
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "jobs.worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(
        f"timed out waiting for {what}\n" + log.read_text(errors="replace")[-4000:]
    )


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL the worker and its work horse (RQ puts the horse in its own process group)."""
    parent = psutil.Process(process.pid)
    family = [*parent.children(recursive=True), parent]
    for proc in family:
        proc.kill()
    psutil.wait_procs(family, timeout=10)
    process.wait(timeout=10)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            kill_tree(process)


def test_a_killed_worker_leaves_an_abandoned_run_that_is_retried(app, account, sandbox, tmp_path):
    log = tmp_path / "workers.log"
    orders = feed_of(account, "import_orders")
    # Every sandbox request waits a second: the execution is still running when killed.
    requests.post(
        f"{sandbox}/_sandbox/faults", json={"slow": {"seconds": 1, "every": 1}}, timeout=5
    )
    started = lifecycle.start_feed(orders, "run_now")
    run_id = started.run.id
    db.session.rollback()

    first = start_worker(app, sandbox, log)
    second = None
    try:
        wait_for(
            lambda: fresh(Run, run_id).status == R.PROCESSING and liveness.is_alive(run_id),
            60,
            "the execution to start",
            log,
        )
        time.sleep(1.5)  # mid-run: pages are being read, slowly
        kill_tree(first)
        assert fresh(Run, run_id).status == R.PROCESSING  # what a kill leaves behind

        requests.delete(f"{sandbox}/_sandbox/faults", timeout=5)
        second = start_worker(app, sandbox, log)
        # The heartbeat key expires 2 s after the kill; then the scheduled sweep runs.
        wait_for(lambda: not liveness.is_alive(run_id), 10, "the heartbeat to expire", log)
        queue("default").enqueue("jobs.feeds.sweep_abandoned_runs")

        wait_for(
            lambda: len(runs_of(orders.id)) == 2 and runs_of(orders.id)[1].status in DONE,
            90,
            "the retry to finish",
            log,
        )
    finally:
        stop(first)
        if second is not None:
            stop(second)

    abandoned, retry = runs_of(orders.id)
    assert abandoned.id == run_id and abandoned.status == R.ABANDONED
    assert abandoned.completed_at is not None and "stopped" in abandoned.error_message
    note = db.session.scalar(
        select(Message).where(Message.import_job_id == run_id, Message.error_type == "abandoned")
    )
    assert note.severity == R.RETRY and f"#{retry.id}" in note.error_message
    assert retry.trigger == "retry" and retry.total_processed == 40
    # Every sandbox order exactly once: in the book or waiting as parked, never twice.
    booked = db.session.scalars(select(Order.channel_order_id)).all()
    parked = db.session.scalars(
        select(ParkedOrder.channel_order_id).where(ParkedOrder.outcome.is_(None))
    ).all()
    assert len(booked) == len(set(booked)) and not set(booked) & set(parked)
    assert len(booked) + len(parked) == 40
    assert not redis_connection().exists(liveness.alive_key(retry.id))

"""A day of scheduled order imports, time compressed, against a faulty sandbox.

The marketplace sandbox runs on its own clock, advanced an hour a tick (24 ticks: one
day); orders arrive and move through their lifecycle as it advances. At each tick the
test fires what rq-scheduler holds for this account (the reconciled entries: the order
feed, the parked-order recheck, the abandoned-run sweep and the failed-sync retry, each
when its interval has elapsed) into the real queues, where a real ``python -m jobs.worker``
subprocess executes them. Faults are on all day (429s, 500s, early token expiry, orders
moving across pages); the marketplace is down for an hour; and one worker is SIGKILLed in
the middle of an execution and replaced.

At the end every sandbox order is in the order book exactly once (or parked, or dropped
as cancelled before payment), no execution is left running, and every execution either
succeeded or its messages are visible: open in the error inbox, or closed by a later
execution of the same feed that succeeded.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest
import requests
from rq import Queue, Worker
from rq.executions import Execution
from sqlalchemy import select
from werkzeug.serving import make_server

from sandbox.app import create_sandbox_app
from tests.feeds.conftest import feed_of, fresh
from tests.feeds.test_abandoned import kill_tree, start_worker, stop, wait_for
from tests.sandbox_server import sandbox_account, serve_in_thread
from webapp.extensions import db, queue
from webapp.feeds import schedule
from webapp.feeds.defaults import ensure_all
from webapp.inbox import service as inbox
from webapp.models import Message, Order, OutboundCall, ParkedOrder, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.outbound import SENT
from webapp.runs import lifecycle, liveness

TICK = 3600  # sandbox seconds per tick
TICKS = 24  # one day
OUTAGE = range(10, 12)  # two hours with the marketplace answering 503 to everything
KILL_AT = 5
# After the day (settle): how long a call that failed may still wait for its backoff (real
# time), and how many more times the schedule fires while a retry message is still open.
SETTLE_SECONDS = 300
SWEEP_ROUNDS = 3
FAULTS = {
    "rate_limit": {"every": 9, "retry_after": 0},
    "server_error": {"every": 13, "status": 500},
    "token_ttl": 5,
    "move_on_page": 2,
}


@pytest.fixture
def day_sandbox():
    app = create_sandbox_app(
        {
            "SANDBOX_ORDERS": 100,
            "SANDBOX_ACCOUNTS": [5622],
            "SANDBOX_REALTIME": False,  # its clock moves only when the test advances it
            "SANDBOX_STEP_SECONDS": TICK,
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = serve_in_thread(server)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def scheduled_entries(feed_ids: set[int]) -> list:
    """What rq-scheduler holds for these feeds plus the global housekeeping jobs."""
    wanted = {schedule.feed_job_id(i) for i in feed_ids}
    return [
        job
        for job in schedule.scheduler().get_jobs()
        if job.id in wanted or job.id.startswith(schedule.global_job_id(""))
    ]


def fire(entries, sim_seconds: int) -> int:
    """Enqueue each entry whose interval divides the simulated time, as rq-scheduler would."""
    fired = 0
    for job in entries:
        interval = job.meta.get("interval")
        if not interval or sim_seconds % max(int(interval), TICK) != 0:
            continue
        Queue(job.origin, connection=queue().connection).enqueue(
            job.func_name, *job.args, job_timeout=300
        )
        fired += 1
    return fired


def drained(log: Path) -> bool:
    """Nothing queued and nothing being executed.

    A dequeued job sits in RQ's intermediate queue until its work horse starts it (by then
    it is in the StartedJobRegistry): it counts. A job a SIGKILLed worker was executing
    stays in the StartedJobRegistry until its heartbeat lapses (~90 s), though no process
    executes it: an execution whose worker process is known dead does not count (any
    other, even of an unknown worker, does)."""
    for name in ("default", "imports"):
        q = queue(name)
        if q.count or q.connection.llen(q.intermediate_queue_key):
            return False
        pids = {w.name: w.pid for w in Worker.all(connection=q.connection)}
        for job_id, execution_id in q.started_job_registry.get_job_and_execution_ids():
            try:
                worker = Execution.fetch(execution_id, job_id, q.connection).worker_name
            except ValueError:  # finished between the two reads: look again
                return False
            if not dead(pids.get(worker)):
                return False
    return True


def dead(pid: int | None) -> bool:
    if pid is None:
        return False  # not known to be dead
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# One back-end: a day of real worker executions is long, and the database's part (one
# order per channel id, under two writers) is asserted on both back-ends in tests/orders.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_day_of_scheduled_order_imports_with_faults_and_a_killed_worker(
    app, store, day_sandbox, tmp_path
):
    sandbox = day_sandbox
    account = sandbox_account(app, store, sandbox)
    orders = feed_of(account, "import_orders")
    recheck = feed_of(account, "recheck_parked_orders")
    ensure_all()  # the global jobs: abandoned-run sweep, failed-sync retry, reconcile
    schedule.reconcile()
    entries = scheduled_entries({orders.id, recheck.id})
    assert {schedule.feed_job_id(orders.id), schedule.feed_job_id(recheck.id)} <= {
        j.id for j in entries
    }
    requests.put(f"{sandbox}/_sandbox/faults", json=FAULTS, timeout=5)

    log = tmp_path / "workers.log"
    worker = start_worker(app, sandbox, log)
    killed_run = None
    try:
        wait_for(
            lambda: any(w.pid == worker.pid for w in Worker.all(connection=queue().connection)),
            90,  # at once, unless the machine is loaded
            "the worker to start",
            log,
        )
        for tick in range(1, TICKS + 1):
            requests.post(f"{sandbox}/_sandbox/advance", params={"seconds": TICK}, timeout=5)
            if tick == OUTAGE.start:
                requests.put(
                    f"{sandbox}/_sandbox/faults",
                    json={"server_error": {"every": 1, "status": 503}},
                    timeout=5,
                )
            if tick == OUTAGE.stop:
                requests.put(f"{sandbox}/_sandbox/faults", json=FAULTS, timeout=5)
            if tick == KILL_AT:
                killed_run, worker = kill_mid_run(app, sandbox, orders, worker, log)
                continue
            fire(entries, tick * TICK)
            wait_for(lambda: drained(log), 120, f"tick {tick} to be executed", log)

        # The day is over: the marketplace settles, the schedule fires once more.
        requests.delete(f"{sandbox}/_sandbox/faults", timeout=5)
        requests.post(f"{sandbox}/_sandbox/advance", params={"seconds": TICK}, timeout=5)
        fire(entries, 0)  # every entry: order poll, recheck, sweeps
        wait_for(lambda: drained(log), 120, "the last tick to be executed", log)
        settle(entries, account, log)
    finally:
        stop(worker)

    db.session.rollback()
    db.session.expire_all()
    # Every sandbox order exactly once.
    state = requests.get(f"{sandbox}/_sandbox/state", timeout=10).json()["accounts"]["5622"]
    booked = db.session.scalars(
        select(Order.channel_order_id).where(Order.account_id == account.id)
    ).all()
    parked = db.session.scalars(
        select(ParkedOrder.channel_order_id).where(
            ParkedOrder.account_id == account.id, ParkedOrder.outcome.is_(None)
        )
    ).all()
    dropped = db.session.scalars(
        select(ParkedOrder.channel_order_id).where(
            ParkedOrder.account_id == account.id, ParkedOrder.outcome == "cancelled"
        )
    ).all()
    assert len(booked) == len(set(booked)), "an order was booked twice"
    assert not set(booked) & set(parked)
    assert set(booked) | set(parked) | set(dropped) == set(state["ids"])
    assert len(state["ids"]) > 100  # orders arrived during the day

    runs = db.session.scalars(select(Run).where(Run.account_id == account.id)).all()
    assert not [r.id for r in runs if r.status in R.ACTIVE_STATUSES], "an execution is stuck"
    polls = [r for r in runs if r.feed_id == orders.id]
    assert len(polls) >= TICKS - 3  # a scheduled tick while one runs is skipped, not stacked

    # The killed execution was found abandoned and retried.
    assert fresh(Run, killed_run).status == R.ABANDONED
    assert any(r.trigger == "retry" and r.id > killed_run for r in polls)
    # The outage failed executions; their messages are visible or closed by a later success.
    failed = [r for r in runs if r.status in (R.FAILED, R.ABANDONED)]
    assert failed, "the outage should have failed some executions"
    open_ids = {m.id for m in db.session.scalars(inbox.open_query(store.id))}
    for run in failed:
        messages = db.session.scalars(select(Message).where(Message.import_job_id == run.id)).all()
        assert messages, f"execution #{run.id} failed without a word"
        for message in messages:
            assert message.resolved_at is not None or message.id in open_ids, (
                f"message #{message.id} of execution #{run.id} is neither resolved nor in "
                f"the inbox ({message.severity}: {message.error_message})"
            )
    # Nothing is left retrying: every call owed was sent, every retry message answered.
    assert owed_calls(account) == []
    still_retrying = open_retries()
    assert still_retrying == [], explain(still_retrying, log)


def owed_calls(account) -> list[OutboundCall]:
    """The account's calls not sent yet (owed, failed and waiting for their retry, claimed)."""
    db.session.rollback()  # a fresh snapshot: the worker writes through its own sessions
    return db.session.scalars(
        select(OutboundCall).where(
            OutboundCall.account_id == account.id, OutboundCall.status.notin_((SENT,))
        )
    ).all()


def open_retries() -> list[Message]:
    db.session.rollback()
    return db.session.scalars(
        select(Message).where(Message.severity == R.RETRY, Message.resolved_at.is_(None))
    ).all()


def settle(entries, account, log: Path) -> None:
    """After the day: what a deployment does next, in real time.

    The schedule goes on firing (the order poll, whose sender sends every call that is due,
    the recheck, the sweeps): the sweep closes what a later success answered. A call that
    failed is due again when its backoff ends, in real seconds (30 s, 1 min, 2 min...) however
    fast the sandbox's day went: the next firing after that sends it. (The sender's own
    wake-up would too, but RQ's scheduler is not running here: the killed worker's holds its
    lock past the test, and a replacement takes it over at its 10-minute maintenance.)
    Stops once nothing is owed and no retry message is open, or after SWEEP_ROUNDS firings
    with nothing owed, or SETTLE_SECONDS: the assertions then say what was left."""
    deadline = time.monotonic() + SETTLE_SECONDS
    rounds = 0
    while True:
        fire(entries, 0)
        wait_for(lambda: drained(log), 120, "the schedule after the day", log)
        owed = owed_calls(account)
        if not owed and not open_retries():
            return
        rounds += 0 if owed else 1
        if rounds >= SWEEP_ROUNDS or time.monotonic() > deadline:
            return
        due = min((c.next_attempt_at for c in owed if c.next_attempt_at), default=None)
        wait = (due - utcnow()).total_seconds() + 0.5 if due else 0
        time.sleep(max(0.0, min(wait, deadline - time.monotonic())))


def explain(messages: list[Message], log: Path) -> str:
    lines = []
    for m in messages:
        run = db.session.get(Run, m.import_job_id)
        lines.append(
            f"#{m.id} {m.error_type} of execution #{m.import_job_id} "
            f"({run.kind if run else '?'} {run.status if run else '?'}, trigger "
            f"{run.trigger if run else '?'}), created {m.created_at}, attempts {m.attempts}, "
            f"next retry {m.next_retry_at}, last retry error {m.last_retry_error!r}: "
            f"{m.error_message}"
        )
    return "still retrying:\n" + "\n".join(lines) + "\n" + log.read_text(errors="replace")[-6000:]


def kill_mid_run(app, sandbox, orders, worker, log):
    """Slow the marketplace, start the order feed, SIGKILL the worker while it reads, start
    a new worker and let the scheduled sweep find the execution abandoned."""
    requests.put(f"{sandbox}/_sandbox/faults", json={"slow": {"seconds": 1, "every": 1}}, timeout=5)
    started = lifecycle.start_feed(orders, "schedule")
    run_id = started.run.id
    db.session.rollback()
    wait_for(
        lambda: fresh(Run, run_id).status == R.PROCESSING and liveness.is_alive(run_id),
        60,
        "the execution to start",
        log,
    )
    time.sleep(1.5)
    kill_tree(worker)
    assert fresh(Run, run_id).status == R.PROCESSING  # what a kill leaves behind
    requests.put(f"{sandbox}/_sandbox/faults", json=FAULTS, timeout=5)
    worker = start_worker(app, sandbox, log)
    wait_for(lambda: not liveness.is_alive(run_id), 15, "the heartbeat to expire", log)
    queue("default").enqueue("jobs.feeds.sweep_abandoned_runs")
    wait_for(lambda: fresh(Run, run_id).status == R.ABANDONED, 60, "the sweep", log)
    wait_for(lambda: drained(log), 120, "the retry to run", log)
    return run_id, worker

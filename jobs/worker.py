"""``python -m jobs.worker``: an RQ worker with its scheduler, for every Mercato queue.

On start it reconciles the feed schedules and sweeps abandoned executions (a restarted
worker is often the one that replaces a killed one); neither stops it from working.

A Redis outage does not end it. RQ's worker would quit (after the job it was running, or
at once when idle); here a supervisor loop waits for Redis with backoff, logging each
attempt, then starts a fresh worker: registered again, its scheduler started again, the
schedules reconciled (a restarted Redis may have lost them). A job running when Redis went
away runs to its end: the worker keeps watching its work horse through the outage.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from rq import Worker
from rq.exceptions import StopRequested

from jobs import app
from jobs.redis_wait import OUTAGE_ERRORS, Backoff, stop_on_signals, wait_for_redis
from webapp.extensions import QUEUE_NAMES, queue, redis_connection

log = logging.getLogger("mercato.worker")

# A worker that stops sooner than this after starting is restarted after a growing delay
# (something other than Redis keeps stopping it: no busy loop).
HEALTHY_AFTER_SECONDS = 30.0


class ResilientWorker(Worker):
    """RQ's forking worker that leaves its loop quietly when Redis goes away (the supervisor
    starts a fresh one), keeps monitoring a running job meanwhile, and still stops on
    SIGTERM/SIGINT when Redis cannot be told."""

    redis_lost: Exception | None = None
    stop_asked: bool = False
    _monitor_warned: bool = False

    def heartbeat(self, timeout=None, pipeline=None):
        if pipeline is not None:  # queued on the caller's pipeline: no I/O here
            return super().heartbeat(timeout, pipeline=pipeline)
        try:
            return super().heartbeat(timeout)
        except OUTAGE_ERRORS as exc:
            # Called between jobs and at each turn of the dequeue loop: leave work().
            self.redis_lost = exc
            raise StopRequested() from exc

    def maintain_heartbeats(self, job):
        try:
            super().maintain_heartbeats(job)
        except OUTAGE_ERRORS as exc:
            self.redis_lost = exc
            if not self._monitor_warned:
                self._monitor_warned = True
                log.warning(
                    "process=worker state=redis_lost job=%s note=the running job goes on error=%r",
                    job.id,
                    str(exc),
                )

    def monitor_work_horse(self, job, queue):
        try:
            super().monitor_work_horse(job, queue)
        except OUTAGE_ERRORS as exc:
            # The horse has ended (RQ reads its outcome from Redis once it has): the job's
            # own run row says how it went; leave work() quietly.
            self.redis_lost = exc
            raise StopRequested() from exc

    def set_state(self, state, pipeline=None):
        if pipeline is not None:
            return super().set_state(state, pipeline=pipeline)
        try:
            return super().set_state(state)
        except OUTAGE_ERRORS as exc:
            self._state = state
            self.redis_lost = exc

    def request_stop(self, signum, frame):
        self.stop_asked = True
        try:
            super().request_stop(signum, frame)
        except OUTAGE_ERRORS:
            # RQ could not read its state from Redis: stop after the running job, if any.
            self._stop_requested = True
            if not self.horse_pid:
                raise StopRequested() from None

    def request_force_stop(self, signum, frame):
        self.stop_asked = True
        super().request_force_stop(signum, frame)

    def register_death(self):
        try:
            super().register_death()
        except OUTAGE_ERRORS:
            pass  # its registration expires by itself

    def unsubscribe(self):
        try:
            super().unsubscribe()
        except OUTAGE_ERRORS:
            pass  # _tidy stops the listener thread


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    burst = "--burst" in argv
    flask_app = app()
    stop_on_signals()
    with flask_app.app_context():
        conn = redis_connection()
        url = flask_app.config["REDIS_URL"]
        cap = flask_app.config["MERCATO_REDIS_WAIT_MAX"]
        restarts = Backoff(cap)
        while True:
            wait_for_redis(conn, "worker", url, cap)
            _housekeeping()
            queues = [queue(name) for name in QUEUE_NAMES]
            worker = ResilientWorker(queues, connection=conn)
            started = time.monotonic()
            try:
                worker.work(with_scheduler=True, burst=burst)
            except OUTAGE_ERRORS as exc:  # RQ's start-up (registration) met the outage
                worker.redis_lost = exc
            finally:
                _tidy(worker)
                stop_on_signals()  # RQ's handlers belong to the worker that just ended
            if worker.stop_asked or burst:
                return 0
            reason = repr(str(worker.redis_lost)) if worker.redis_lost else "unexpected"
            log.warning("process=worker state=stopped reason=%s next=wait_for_redis", reason)
            if time.monotonic() - started >= HEALTHY_AFTER_SECONDS:
                restarts.reset()
            if worker.redis_lost is None:
                time.sleep(restarts.delay())


def _tidy(worker: ResilientWorker) -> None:
    """What RQ's teardown leaves behind when Redis is away: its command-listener thread, its
    scheduler process, and a work horse still finishing its job."""
    thread = getattr(worker, "pubsub_thread", None)
    if thread is not None and thread.is_alive():  # teardown could not unsubscribe
        thread.stop()
        thread.join(timeout=1)
    scheduler = getattr(worker, "scheduler", None)
    process = getattr(scheduler, "_process", None) if scheduler else None
    if process is not None and process.is_alive():
        process.terminate()
        process.join(timeout=10)
    horse = worker.horse_pid
    if horse:
        log.warning("process=worker state=waiting_for_job horse_pid=%s", horse)
        try:
            os.waitpid(horse, 0)
        except ChildProcessError:
            pass


def _housekeeping() -> None:
    from webapp.extensions import db

    feeds_log = logging.getLogger("mercato.feeds")
    try:
        from webapp.feeds.defaults import ensure_all
        from webapp.feeds.schedule import reconcile
        from webapp.feeds.sweep import sweep

        ensure_all()
        feeds_log.info("job=reconcile_schedules at=worker_start %s", reconcile().as_dict())
        feeds_log.info("job=sweep at=worker_start %s", sweep())
    except Exception:  # noqa: BLE001 - the periodic jobs will do it
        feeds_log.warning("job=worker_start housekeeping failed", exc_info=True)
        db.session.rollback()
    finally:
        db.session.remove()


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m jobs.scheduler``: rq-scheduler, after reconciling its entries with the database.

The Procfile's ``scheduler`` process.  Reconciling first means a deploy or a restart starts
from exactly what ``scheduled_jobs`` says (never a doubled or stale entry); the periodic
``reconcile_schedules`` job keeps it so while it runs.

A Redis outage does not end it: rq-scheduler would exit, and the schedules would silently
stop. Here a supervisor loop waits for Redis with backoff (logging each attempt), reconciles
again (a restarted Redis may have lost every entry, the periodic reconcile included), then
runs rq-scheduler again. While it runs it renews a key the health endpoint reads.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from rq_scheduler import Scheduler

from jobs import app
from jobs.redis_wait import OUTAGE_ERRORS, stop_on_signals, wait_for_redis
from webapp.extensions import db, redis_connection
from webapp.redis_outage import scheduler_alive_key

log = logging.getLogger("mercato.feeds")


class ResilientScheduler(Scheduler):
    """rq-scheduler whose clean-up cannot fail on a Redis that is away (so the outage, or a
    stop signal, reaches the supervisor) and which says it is alive on every turn."""

    def __init__(self, *args, alive_key: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.alive_key = alive_key

    def heartbeat(self):
        super().heartbeat()
        self.connection.set(self.alive_key, self.name, ex=int(self._interval * 3) + 10)

    def register_death(self):
        try:
            super().register_death()
        except OUTAGE_ERRORS:
            pass  # its key expires by itself

    def remove_lock(self):
        try:
            super().remove_lock()
        except OUTAGE_ERRORS:
            self._lock_acquired = False  # the lock expires by itself

    def _install_signal_handlers(self):
        def stop(_signum, _frame):
            self.log.info("Shutting down RQ scheduler...")
            raise SystemExit(0)  # run()'s own clean-up deregisters it and frees the lock

        import signal

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)


def reconcile_at_start(attempts: int = 10) -> None:
    from webapp.feeds.defaults import ensure_all
    from webapp.feeds.schedule import reconcile

    for attempt in range(1, attempts + 1):
        try:
            ensure_all()
            log.info("job=reconcile_schedules at=start %s", reconcile().as_dict())
            return
        except Exception:  # noqa: BLE001 - database or Redis not up yet: wait, then retry
            db.session.rollback()
            log.warning(
                "job=reconcile_schedules at=start attempt=%s failed", attempt, exc_info=True
            )
            time.sleep(min(30, 2 * attempt))
    log.error("job=reconcile_schedules at=start state=gave_up (the periodic job will retry)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    parser.add_argument("--burst", action="store_true", help="enqueue what is due, then exit")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    flask_app = app()
    stop_on_signals()
    with flask_app.app_context():
        from webapp.feeds.schedule import queue_name

        conn = redis_connection()
        url = flask_app.config["REDIS_URL"]
        cap = flask_app.config["MERCATO_REDIS_WAIT_MAX"]
        while True:
            wait_for_redis(conn, "scheduler", url, cap)
            reconcile_at_start()
            db.session.remove()
            scheduler = ResilientScheduler(
                queue_name=queue_name(),
                connection=conn,
                interval=args.interval,
                alive_key=scheduler_alive_key(),
            )
            try:
                scheduler.run(burst=args.burst)
                return 0
            except OUTAGE_ERRORS as exc:
                log.warning(
                    "process=scheduler state=stopped reason=%r next=wait_for_redis", str(exc)
                )
            finally:
                stop_on_signals()


if __name__ == "__main__":
    raise SystemExit(main())

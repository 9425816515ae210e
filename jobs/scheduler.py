"""``python -m jobs.scheduler``: rq-scheduler, after reconciling its entries with the database.

The Procfile's ``scheduler`` process.  Reconciling first means a deploy or a restart starts
from exactly what ``scheduled_jobs`` says (never a doubled or stale entry); the periodic
``reconcile_schedules`` job keeps it so while it runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from rq_scheduler import Scheduler

from jobs import app
from webapp.extensions import db, redis_connection

log = logging.getLogger("mercato.feeds")


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
    with app().app_context():
        reconcile_at_start()
        db.session.remove()
        from webapp.feeds.schedule import queue_name

        scheduler = Scheduler(
            queue_name=queue_name(), connection=redis_connection(), interval=args.interval
        )
        scheduler.run(burst=args.burst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m jobs.worker``: an RQ worker with its scheduler, for every Mercato queue.

On start it reconciles the feed schedules and sweeps abandoned executions (a restarted
worker is often the one that replaces a killed one); neither stops it from working.
"""

from __future__ import annotations

import sys

from rq import Worker

from jobs import app
from webapp.extensions import QUEUE_NAMES, queue


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    burst = "--burst" in argv
    with app().app_context():
        _housekeeping()
        queues = [queue(name) for name in QUEUE_NAMES]
        worker = Worker(queues, connection=queues[0].connection)
        worker.work(with_scheduler=True, burst=burst)
    return 0


def _housekeeping() -> None:
    import logging

    from webapp.extensions import db

    log = logging.getLogger("mercato.feeds")
    try:
        from webapp.feeds.defaults import ensure_all
        from webapp.feeds.schedule import reconcile
        from webapp.feeds.sweep import sweep

        ensure_all()
        log.info("job=reconcile_schedules at=worker_start %s", reconcile().as_dict())
        log.info("job=sweep at=worker_start %s", sweep())
    except Exception:  # noqa: BLE001 - the periodic jobs will do it
        log.warning("job=worker_start housekeeping failed", exc_info=True)
        db.session.rollback()
    finally:
        db.session.remove()


if __name__ == "__main__":
    raise SystemExit(main())

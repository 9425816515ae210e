"""``python -m jobs.worker``: an RQ worker with its scheduler, for every Mercato queue."""

from __future__ import annotations

import sys

from rq import Worker

from jobs import app
from webapp.extensions import QUEUE_NAMES, queue


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    burst = "--burst" in argv
    with app().app_context():
        queues = [queue(name) for name in QUEUE_NAMES]
        worker = Worker(queues, connection=queues[0].connection)
        worker.work(with_scheduler=True, burst=burst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

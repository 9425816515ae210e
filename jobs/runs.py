"""The one job that executes a run, its failure callback, and a flow's wake-up."""

from __future__ import annotations

import logging

from jobs import app

log = logging.getLogger("mercato.runs")


def execute_run(run_id: int) -> dict | None:
    """Execute the run ``run_id`` (created and enqueued by :mod:`webapp.runs.lifecycle`)."""
    from webapp.extensions import db
    from webapp.runs.lifecycle import execute

    with app().app_context():
        try:
            run = execute(run_id)
            return run.summary() if run else None
        finally:
            db.session.remove()


def wake(kind: str, account_id: int) -> dict | None:
    """A follower or a flow's own retry came due (:func:`webapp.runs.lifecycle.wake_at`):
    its run is created and executed here, in this job."""
    from webapp.extensions import db
    from webapp.models import Account
    from webapp.runs.lifecycle import start_flow

    with app().app_context():
        try:
            account = db.session.get(Account, account_id)
            if account is None or account.is_retired:
                return None
            started = start_flow(kind, account, "schedule", inline=True)
            return {"run_id": started.run.id, "started": started.started}
        finally:
            db.session.remove()


def on_execution_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback: a timeout, a crash, or RQ finding the job abandoned."""
    from rq.exceptions import AbandonedJobError

    from webapp.extensions import db
    from webapp.feeds import sweep
    from webapp.models import Run
    from webapp.models import runs as R
    from webapp.runs.lifecycle import finish

    run_id = job.args[0] if job.args else None
    if run_id is None:
        return
    with app().app_context():
        try:
            if exc_type is AbandonedJobError or isinstance(exc_value, AbandonedJobError):
                sweep.abandon(run_id, "RQ found this execution abandoned by its worker.")
                return
            run = db.session.get(Run, run_id)
            if run is not None and run.status in R.ACTIVE_STATUSES:
                finish(run, R.FAILED, f"The execution stopped: {exc_type.__name__}.")
        finally:
            db.session.remove()

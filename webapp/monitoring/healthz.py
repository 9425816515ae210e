"""``/healthz``: whether this web process can serve pages, and what it depends on.

It answers 200 while the database answers (pages can be served, so a load balancer keeps
the process) and 503 when it does not. The body says how Redis and the background
processes are: ``status`` is ``degraded`` while Redis is down (no job runs, no schedule
fires, logging in is paused), no worker is registered, or no scheduler has checked in.
Public: it names no host, address or error text.
"""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webapp.extensions import db, queue, redis_connection
from webapp.monitoring import bp
from webapp.redis_outage import OUTAGE_ERRORS, scheduler_alive_key


@bp.get("/healthz")
def healthz():
    report: dict = {"status": "ok", "database": "ok", "redis": "ok"}
    problems: list[str] = []
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        report["database"] = "down"
        problems.append("The database does not answer: no page can be served.")
    try:
        conn = redis_connection()
        conn.ping()
        from rq import Worker

        workers = Worker.count(connection=conn, queue=queue("default"))
        scheduler = "ok" if conn.exists(scheduler_alive_key()) else "missing"
    except OUTAGE_ERRORS:
        report["redis"] = "down"
        problems.append(
            "Redis does not answer: no job runs and no schedule fires until it is back; "
            "logging in is paused."
        )
    else:
        report["workers"] = workers
        report["scheduler"] = scheduler
        if not workers:
            problems.append("No worker is running: queued jobs wait.")
        if scheduler != "ok":
            problems.append("No scheduler has checked in lately: schedules do not fire.")
    if problems:
        report["status"] = "down" if report["database"] == "down" else "degraded"
        report["problems"] = problems
    response = jsonify(report)
    response.status_code = 503 if report["database"] == "down" else 200
    response.headers["Cache-Control"] = "no-store"
    return response

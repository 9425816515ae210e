"""No page holds a web worker for long: a request's SQL statements are stopped after
``MERCATO_WEB_STATEMENT_TIMEOUT`` seconds each.

gunicorn runs a few synchronous workers; a page whose query runs for seconds keeps one of
them from every other store meanwhile. On PostgreSQL every transaction a request begins
starts with ``SET LOCAL statement_timeout`` (it ends with the transaction, so a pooled
connection carries nothing over to the worker, the scheduler or the CLI, which never run
inside a request and keep no limit). On SQLite a progress handler interrupts a statement
past the same deadline. The statement fails with ``OperationalError``; the request answers
503 with a sentence saying so (JSON under /api/) and the worker is free again.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, current_app, g, has_request_context, render_template, request
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from webapp.extensions import db

log = logging.getLogger("mercato.web")

# SQLite calls the progress handler every this many virtual-machine instructions.
SQLITE_PROGRESS_STEPS = 10_000
TIMEOUT_MESSAGE = (
    "This page took longer than {seconds:g} seconds to read and was stopped, so that other "
    "pages stay fast. Narrow the search or the filters, or try again in a moment."
)


def _limit_seconds() -> float:
    if not has_request_context():
        return 0
    # A streamed download (the catalog feed) reads for as long as the client does, by design.
    if g.get("statement_timeout_exempt"):
        return 0
    return current_app.config.get("MERCATO_WEB_STATEMENT_TIMEOUT") or 0


def _on_begin(session, transaction, connection) -> None:
    seconds = _limit_seconds()
    if seconds and connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}")


if not event.contains(db.session, "after_begin", _on_begin):
    event.listen(db.session, "after_begin", _on_begin)


def _sqlite_limits(engine) -> None:
    """A deadline per statement of a request, checked by SQLite's progress handler."""

    def before(conn, cursor, statement, parameters, context, executemany):
        seconds = _limit_seconds()
        if not seconds:
            return
        deadline = time.monotonic() + seconds
        conn.connection.dbapi_connection.set_progress_handler(
            lambda: int(time.monotonic() > deadline), SQLITE_PROGRESS_STEPS
        )

    def clear(conn) -> None:
        if conn is not None and has_request_context():
            conn.connection.dbapi_connection.set_progress_handler(None, 0)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", lambda conn, *_: clear(conn))
    # A statement that failed (interrupted or not) must not leave its deadline behind.
    event.listen(engine, "handle_error", lambda context: clear(context.connection))


def is_timeout(exc: OperationalError) -> bool:
    """PostgreSQL's query_canceled (57014) or SQLite's interrupt."""
    original = exc.orig
    return getattr(original, "sqlstate", None) == "57014" or "interrupted" in str(original)


def _timed_out(exc: OperationalError):
    if not is_timeout(exc):
        raise exc
    db.session.rollback()
    seconds = current_app.config["MERCATO_WEB_STATEMENT_TIMEOUT"]
    log.warning("statement_timeout path=%s seconds=%g", request.path, seconds)
    message = TIMEOUT_MESSAGE.format(seconds=seconds)
    headers = {"Retry-After": "5"}
    if request.path.startswith("/api/"):
        from webapp.api.errors import error_response

        return error_response(503, message, headers)
    return render_template("timeout.html", message=message), 503, headers


def init_app(app: Flask) -> None:
    app.register_error_handler(OperationalError, _timed_out)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            _sqlite_limits(db.engine)

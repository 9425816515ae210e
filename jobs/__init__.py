"""RQ job functions: they take ids, load rows, call domain code and record the run."""

from __future__ import annotations

from flask import Flask

_app: Flask | None = None


def app() -> Flask:
    """One Flask app per worker process, created on first use. A configuration that cannot
    start stops the process with one line (``mercato: ...``), not a traceback."""
    global _app
    if _app is None:
        from webapp.startup import create_app_or_exit

        _app = create_app_or_exit()
    return _app

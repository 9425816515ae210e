"""RQ job functions: they take ids, load rows, call domain code and record the run."""

from __future__ import annotations

from flask import Flask

_app: Flask | None = None


def app() -> Flask:
    """One Flask app per worker process, created on first use."""
    global _app
    if _app is None:
        from webapp import create_app

        _app = create_app()
    return _app

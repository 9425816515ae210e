"""Product-import jobs."""

from __future__ import annotations

from jobs import app


def run_product_import(run_id: int) -> dict | None:
    """Execute the product-import run ``run_id``; returns its summary."""
    from webapp.extensions import db
    from webapp.imports.service import execute

    with app().app_context():
        try:
            run = execute(run_id)
            return run.summary() if run else None
        finally:
            db.session.remove()

"""What every way of asking for an import shares, below the service and the uploads: the
error that refuses a request (nothing is created, nothing left behind), and the work
directory where a request's files wait (uploads, downloads being read).
"""

from __future__ import annotations

from pathlib import Path

from flask import current_app


class ImportRequestError(ValueError):
    """The request to import is invalid; nothing was created."""


def work_dir() -> Path:
    path = Path(current_app.config["MERCATO_WORK_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path

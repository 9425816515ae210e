"""Uploaded feed files: streamed to the work directory, never held in memory."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import current_app
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from webapp.imports.request import ImportRequestError, work_dir

CHUNK = 1 << 20


def upload_name(filename: str | None) -> str:
    """The uploaded file's name as a run keeps and shows it: at most 255 characters, without
    control characters (a NUL cannot even be stored in a PostgreSQL text column)."""
    return "".join(ch for ch in filename or "" if ch >= " " and ch != "\x7f")[:255]


def save_upload(upload: FileStorage) -> tuple[str, str]:
    """Save ``upload`` under the work directory; returns (path, original file name).

    Refuses an empty upload and one larger than MERCATO_UPLOAD_MAX_BYTES (the
    partial file is removed), with a sentence a person understands.
    """
    if upload is None or not upload.filename:
        raise ImportRequestError("Choose a feed file to upload.")
    limit = current_app.config["MERCATO_UPLOAD_MAX_BYTES"]
    folder = work_dir() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    # The name on disk is a hint only (the run keeps the original): its tail, so the
    # extension stays, and short enough that the prefix never makes it too long for the
    # file system (255 bytes).
    name = (secure_filename(upload.filename) or "feed")[-100:]
    path = folder / f"{secrets.token_hex(8)}-{name}"
    size = 0
    try:
        with path.open("wb") as out:
            while chunk := upload.stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ImportRequestError(
                        f"The file is larger than the {limit // (1024 * 1024)} MB upload limit."
                    )
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise ImportRequestError("The uploaded file is empty.")
    return str(path), upload_name(upload.filename)


def discard(path: str | Path) -> None:
    Path(path).unlink(missing_ok=True)

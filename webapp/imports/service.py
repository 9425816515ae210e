"""Product-import requests and their execution.

Routes, the API and the CLI all come through here: a request is validated and its pending
run created by the lifecycle (``create_run`` -> :func:`webapp.runs.lifecycle.create`), then
enqueued by the lifecycle or executed inline.  ``execute`` is what the product flows
(:mod:`webapp.imports.flows`) run.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app
from redis.exceptions import LockError, RedisError
from sqlalchemy import select

from connectors.egress import (
    FetchError,
    OutboundRefused,
    check_url,
    fetch_to_file,
    mask_url,
    parse_allowlist,
)
from webapp.crypto import decrypt, encrypt
from webapp.extensions import db, redis_connection
from webapp.imports.engine import ImportRunner, fail, reset_for_execution
from webapp.imports.reader import FeedError
from webapp.imports.request import ImportRequestError, work_dir
from webapp.imports.uploads import discard, save_upload, upload_name
from webapp.models import Feed, Run, Store
from webapp.models import runs as R
from webapp.models.catalog import DEFAULT_MARKETPLACE
from webapp.runs import lifecycle

log = logging.getLogger("mercato.imports")

MIN_BATCH, MAX_BATCH, DEFAULT_BATCH = 100, 5000, 1000
LANGUAGES = ("fr", "en", "de")


def allowlist() -> set[tuple[str, int]]:
    return parse_allowlist(current_app.config["MERCATO_OUTBOUND_ALLOW"])


def validate_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImportRequestError("Enter a full http:// or https:// address of the feed.")
    try:
        check_url(url, allowlist())
    except OutboundRefused as exc:
        raise ImportRequestError(str(exc)) from exc
    return url


def create_run(
    store: Store,
    *,
    source_url: str | None = None,
    source_path: str | None = None,
    source_name: str | None = None,
    marketplace: str = DEFAULT_MARKETPLACE,
    language: str = "en",
    batch_size: int = DEFAULT_BATCH,
    user_id: int | None = None,
    trigger: str = "ui",
    feed: Feed | None = None,
) -> Run:
    """Validate the request and create a pending run; a refused request creates nothing."""
    if bool(source_url) == bool(source_path):
        raise ImportRequestError("Give either a feed URL or a file, not both and not neither.")
    if language not in LANGUAGES:
        raise ImportRequestError(f"Language must be one of {', '.join(LANGUAGES)}.")
    try:
        batch_size = int(batch_size)
    except (TypeError, ValueError) as exc:
        raise ImportRequestError("Batch size must be a whole number.") from exc
    if not MIN_BATCH <= batch_size <= MAX_BATCH:
        raise ImportRequestError(f"Batch size must be between {MIN_BATCH} and {MAX_BATCH}.")
    marketplace = (marketplace or DEFAULT_MARKETPLACE).strip()[:64] or DEFAULT_MARKETPLACE
    source: dict = {}
    if source_url:
        url = validate_url(source_url)
        masked = mask_url(url)
        source["source_url"] = masked
        if masked != url:
            source["source_secret"] = encrypt(url)
    else:
        source["source_path"] = str(source_path)
        source["source_name"] = source_name or Path(source_path).name
    return lifecycle.create(
        kind="product_import",
        store_id=store.id,
        feed=feed,
        trigger=trigger,
        user_id=user_id,
        marketplace=marketplace,
        language=language,
        batch_size=batch_size,
        **source,
    ).run


def enqueue(run: Run) -> Run:
    """Queue the run's execution (the lifecycle's job, on the imports queue)."""
    return lifecycle.enqueue(run)


def _download(run: Run) -> Path:
    url = decrypt(run.source_secret) if run.source_secret else run.source_url
    dest = work_dir() / f"run-{run.id}.download"
    cfg = current_app.config

    def on_progress(done: int, total: int | None) -> None:
        # Downloading is the first tenth of the bar when the size is known.
        if total:
            run.progress = min(10, int(done * 10 / total))

    try:
        with dest.open("wb") as fh:
            fetch_to_file(
                url,
                fh,
                allow=allowlist(),
                max_bytes=cfg["MERCATO_FETCH_MAX_BYTES"],
                timeout=cfg["MERCATO_FETCH_TIMEOUT"],
                on_progress=on_progress,
            )
    except BaseException:
        # execute() only cleans up a download it got back: a failed one is removed here.
        dest.unlink(missing_ok=True)
        raise
    return dest


def _owned_upload(path: Path) -> bool:
    try:
        path.resolve().relative_to((work_dir() / "uploads").resolve())
        return True
    except ValueError:
        return False


def execute(run_id: int) -> Run | None:
    """Execute a run to its end (inline or inside the RQ job). Finished runs are left alone."""
    run = db.session.get(Run, run_id)
    if run is None:
        log.warning("job=import_feed run_id=%s state=missing", run_id)
        return None
    if run.status in R.FINISHED_STATUSES:
        return run
    reset_for_execution(run)
    downloaded: Path | None = None
    try:
        if run.source_path:
            path = Path(run.source_path)
        else:
            downloaded = path = _download(run)
        ImportRunner(run, path).execute()
    except (FeedError, FetchError, OutboundRefused) as exc:
        fail(run, str(exc))
    except Exception as exc:
        log.exception("job=import_feed run_id=%s state=crashed", run_id)
        fail(
            run,
            f"The import stopped on an internal error ({exc.__class__.__name__}); "
            "it can be run again.",
        )
        raise
    finally:
        if downloaded is not None:
            downloaded.unlink(missing_ok=True)
    if run.source_path and _owned_upload(Path(run.source_path)):
        Path(run.source_path).unlink(missing_ok=True)
    from webapp.orders.matching import after_import

    after_import(run)  # order lines that waited for the products it brought are matched
    if run.status in (R.COMPLETED, R.COMPLETED_WITH_ERRORS):
        from webapp.stock.feed import follow_feed

        follow_feed(run.store_id, run.id)  # the feed's quantities, when it is the stock source
    return run


class ImportAlreadyRunning(ImportRequestError):
    """The same source is already pending or processing for the store (a double click, a
    retried script): nothing was created; ``run`` is the one in flight."""

    def __init__(self, run: Run) -> None:
        self.run = run
        super().__init__(
            f"Import job {run.id} of this store is already {run.status} for the same source; "
            "wait for it to finish."
        )


def source_key(source_url: str | None, upload) -> str:
    """What makes two requests "the same import": the masked URL, or the upload's name."""
    if source_url:
        return mask_url(source_url)
    return f"upload:{upload_name(getattr(upload, 'filename', None))}"


def active_duplicate(store: Store, source_url: str | None, upload) -> Run | None:
    """A pending or processing run of the same store reading the same source."""
    query = select(Run.id).where(Run.store_id == store.id, Run.status.in_(R.ACTIVE_STATUSES))
    if source_url:
        query = query.where(Run.source_url == mask_url(source_url))
    else:
        name = upload_name(getattr(upload, "filename", None))
        query = query.where(Run.source_url.is_(None), Run.source_name == name)
    run_id = db.session.scalar(query.order_by(Run.id).limit(1))
    return db.session.get(Run, run_id) if run_id is not None else None


class ImportBeingSubmitted(ImportRequestError):
    """The same import is being submitted by another request at this very moment."""


@contextmanager
def _submission_lock(store: Store, source: str) -> Iterator[None]:
    """A short Redis lock per (store, source) around the re-check and the insert, so two
    simultaneous requests cannot both pass the check. Without Redis there is no lock (and
    no queue: the run that follows says the queue is down)."""
    digest = hashlib.sha256(f"{store.id}\0{source}".encode()).hexdigest()[:32]
    prefix = current_app.config.get("MERCATO_QUEUE_PREFIX", "")
    lock = redis_connection().lock(
        f"{prefix}mercato:imports:start-lock:{digest}", timeout=60, blocking_timeout=15
    )
    try:
        acquired = lock.acquire()
    except RedisError:
        acquired = None
    if acquired is False:
        raise ImportBeingSubmitted("The same import is being submitted right now; wait for it.")
    try:
        yield
    finally:
        if acquired:
            try:
                lock.release()
            except (LockError, RedisError):
                pass  # expired meanwhile: nothing to release


def start_import(
    store: Store,
    *,
    source_url: str | None = None,
    upload=None,
    user_id: int | None = None,
    trigger: str = "ui",
    **options,
) -> Run:
    """Create and enqueue a run from a URL or an uploaded file: the one start path of the
    pages and the API.

    A refused request raises :class:`ImportRequestError` and leaves nothing behind: no run,
    no uploaded file. The same source still in flight for the store is refused
    (:class:`ImportAlreadyRunning`), checked again under a short lock just before the insert.
    If the queue cannot be reached, the run is marked failed with a sentence saying so
    rather than left pending forever.
    """
    has_file = upload is not None and bool(getattr(upload, "filename", ""))
    if has_file and source_url:
        raise ImportRequestError("Give either a feed URL or a file, not both.")
    if not has_file and not source_url:
        raise ImportRequestError("Enter the feed's URL or choose a file to upload.")
    upload = upload if has_file else None
    if (existing := active_duplicate(store, source_url, upload)) is not None:
        raise ImportAlreadyRunning(existing)
    path = name = None
    if has_file:
        path, name = save_upload(upload)
    try:
        with _submission_lock(store, source_key(source_url, upload)):
            # End any read transaction first, so the re-check sees a run another request
            # committed while we waited, whatever the database's isolation level.
            db.session.commit()
            if (existing := active_duplicate(store, source_url, upload)) is not None:
                raise ImportAlreadyRunning(existing)
            run = create_run(
                store,
                source_url=source_url or None,
                source_path=path,
                source_name=name,
                user_id=user_id,
                trigger=trigger,
                **options,
            )
    except BaseException:
        db.session.rollback()
        if path:
            discard(path)
        raise
    return lifecycle.enqueue(run)  # Redis down: the run says so instead of staying pending

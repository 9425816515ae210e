"""The product flows: a store's configured feed URLs, and one file (an upload, a URL given
to the API or the CLI).  Declared in the registry (:mod:`webapp.runs.registry`); the
lifecycle gives each its run."""

from __future__ import annotations

import logging

from connectors.base import Capability
from webapp.extensions import db
from webapp.imports.request import ImportRequestError
from webapp.imports.service import create_run, execute, validate_url
from webapp.models import Run
from webapp.models import runs as R
from webapp.runs.lifecycle import finish, note
from webapp.runs.registry import flow

log = logging.getLogger("mercato.feeds")


@flow("product_import", label="Import a product file", owner=None, queue="imports")
def import_file(run: Run) -> None:
    """One feed file, read from its URL or the uploaded file, into the catalog."""
    execute(run.id)


def store_feed_urls(store) -> list[tuple[str, str]]:
    """The store's configured feed URLs, its default language first."""
    urls = [
        (lang, url)
        for lang in ("fr", "en", "de")
        if (url := (getattr(store, f"letzshop_csv_url_{lang}") or "").strip())
    ]
    return sorted(urls, key=lambda item: item[0] != store.default_language)


@flow(
    "update_products",
    label="Update products",
    owner="store",
    run_kind="product_import",
    cron_expression="0 4 * * *",
    queue="imports",
)
@flow(
    "import_products",
    label="Import products",
    owner="store",
    run_kind="product_import",
    capability=Capability.PRODUCTS_IN,
    cron_expression="0 4 * * *",
    queue="imports",
)
def import_store_feed(run: Run) -> None:
    """One run per configured language, one after another; the first is ``run`` itself
    (the others are created by the lifecycle, once the one before has finished and freed
    the feed's lock)."""
    feed = run.feed
    urls = store_feed_urls(feed.store)
    if not urls:
        note(
            run,
            R.INFO,
            "no_feed_url",
            "No feed URL is configured in the store's settings: nothing to import.",
        )
        return
    first = run
    for index, (language, url) in enumerate(urls):
        if index:
            try:
                run = create_run(
                    feed.store,
                    source_url=url,
                    language=language,
                    user_id=first.user_id,
                    trigger=first.trigger,
                    feed=feed,
                )
            except ImportRequestError as exc:
                log.warning(
                    "job=run_feed feed_id=%s language=%s refused=%s", feed.id, language, exc
                )
                continue
        else:
            try:
                url = validate_url(url)
            except ImportRequestError as exc:
                note(run, R.ERROR, "bad_feed_url", f"The {language} feed URL is refused: {exc}")
                finish(run, R.FAILED, str(exc))
                return
            _set_source(run, url, language)
        execute(run.id)


def _set_source(run: Run, url: str, language: str) -> None:
    from connectors.egress import mask_url
    from webapp.crypto import encrypt

    masked = mask_url(url)
    run.source_url = masked
    run.source_secret = encrypt(url) if masked != url else None
    run.language = language
    db.session.commit()

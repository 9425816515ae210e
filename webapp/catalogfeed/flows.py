"""The ``catalog_export`` feed kind: the daily check of an account's catalog feed (pull).

The hubs (Lengow, ShoppingFeed, Letzshop) take the catalog by fetching the account's feed
(:mod:`webapp.catalogfeed.routes`); nothing is sent to them. A run of this kind renders the
feed exactly as the hub would get it now (the account's format and language; rows streamed
from :func:`webapp.catalogfeed.content.iter_rows` and written as CSV or XML, counted, never
kept), and records:

- the row count (``total_processed``), the bytes and the ETag the hub would be answered with
  (an info message ``catalog_feed_rendered``);
- a warning per product the hub would reject or that is incomplete, naming the SKU: no title
  in any language, no price, no link or no image where the hub requires them
  (:attr:`connectors.capabilities.CatalogOut.catalog_required`);
- an error when published products exist but the hub has not fetched the feed for longer
  than ``MERCATO_CATALOG_FEED_STALE_HOURS`` (default 48), or never fetched it.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import insert, select

from connectors.base import Capability
from webapp import catalogfeed
from webapp.catalogfeed import content
from webapp.connector import connector_for
from webapp.extensions import db
from webapp.models import CatalogFeedFetch, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.runs import lifecycle
from webapp.runs.registry import OUT, flow

DEFAULT_STALE_HOURS = 48
INCOMPLETE = "catalog_incomplete"
STALE = "catalog_not_fetched"
RENDERED = "catalog_feed_rendered"
MESSAGE_BATCH = 1000

# The cell of each checkable column in a row of content.iter_rows, and how it is named.
_CELLS = {
    "title": (2, "no title in any language"),
    "link": (4, "no link"),
    "image_link": (5, "no image"),
    "price": (7, "no price"),
}


def stale_after() -> timedelta:
    hours = current_app.config.get("MERCATO_CATALOG_FEED_STALE_HOURS", DEFAULT_STALE_HOURS)
    return timedelta(hours=float(hours))


def required_columns(account) -> tuple[str, ...]:
    connector = connector_for(account)
    found = getattr(connector, "catalog_required", ("title", "price"))
    return tuple(name for name in found if name in _CELLS)


def last_fetch(account_id: int) -> CatalogFeedFetch | None:
    """The hub's last fetch that read the feed (complete, or answered 304 Not Modified)."""
    return db.session.scalar(
        select(CatalogFeedFetch)
        .where(
            CatalogFeedFetch.account_id == account_id,
            (CatalogFeedFetch.status == 304)
            | ((CatalogFeedFetch.status == 200) & CatalogFeedFetch.complete.is_(True)),
        )
        .order_by(CatalogFeedFetch.fetched_at.desc(), CatalogFeedFetch.id.desc())
        .limit(1)
    )


def _render(account, fmt: str, language, required: tuple[str, ...]):
    """Yield (rows, bytes) at the end, and the incomplete products on the way as
    ``(sku, [what is missing])``: one pass over the rows, each written as the hub gets it."""
    store = account.store
    rows = 0
    size = 0
    rows_iter = content.iter_rows(account, store, language)
    if fmt == "csv":
        writer = content.CsvWriter()
        writer.header(content.columns_for(account))
        size += sum(len(line.encode()) for line in writer.out)
        writer.out.clear()
    else:
        size += len(content.xml_head(store).encode()) + len(content.XML_TAIL.encode())
    checks = [(_CELLS[name][0], _CELLS[name][1]) for name in required]
    try:
        for cells in rows_iter:
            rows += 1
            if fmt == "csv":
                writer.row(cells)
                size += sum(len(line.encode()) for line in writer.out)
                writer.out.clear()
            else:
                size += len(content.xml_item(cells).encode())
            missing = [what for index, what in checks if not cells[index].strip()]
            if missing:
                yield ("incomplete", cells[0], missing)
    finally:
        rows_iter.close()
    yield ("done", rows, size)


def _messages(batch: list[dict]) -> None:
    """Write a batch of messages in the run's transaction, never committing: on PostgreSQL
    the rows stream from a server-side cursor that a commit would close."""
    if batch:
        db.session.execute(insert(Message), batch)
        batch.clear()


@flow(
    "catalog_export",
    label="Catalog export",
    direction=OUT,
    capability=Capability.CATALOG_OUT,
    cron_expression="0 1 * * *",
)
def check_catalog_feed(run: Run) -> dict:
    """Render the account's catalog feed as the hub would get it and say what it would
    reject, and whether the hub still reads the feed."""
    account = run.account
    connector = connector_for(account)
    feed = catalogfeed.feed_for(account)
    fmt, language, token = feed.format, feed.language, feed.token_hash
    required = required_columns(account)
    lifecycle.begin(run, "rendering")
    run_id = run.id
    version = content.version(account, fmt, token, language)
    now = utcnow()
    batch: list[dict] = []
    incomplete = 0
    rows = size = 0
    for kind, first, second in _render(account, fmt, language, required):
        if kind == "done":
            rows, size = first, second
            break
        incomplete += 1
        batch.append(
            {
                "import_job_id": run_id,
                "severity": R.WARNING,
                "error_type": INCOMPLETE,
                "identifier": first[:255],
                "error_message": (
                    f"SKU {first}: {', '.join(second)}; {connector.name} rejects a product "
                    "without it."
                ),
                "row_data": {"sku": first, "missing": second},
                "created_at": now,
            }
        )
        if len(batch) >= MESSAGE_BATCH:
            _messages(batch)
    _messages(batch)
    run = db.session.get(Run, run_id)
    lifecycle.note(
        run,
        R.INFO,
        RENDERED,
        f"The {fmt.upper()} feed {connector.name} reads has {rows} product(s), {size} bytes, "
        f"ETag {version.etag}.",
    )
    fetched = last_fetch(account.id)
    summary = {
        "rows": rows,
        "bytes": size,
        "etag": version.etag,
        "format": fmt,
        "incomplete": incomplete,
        "last_fetched_at": catalogfeed.iso(fetched.fetched_at) if fetched else None,
        "stale": False,
    }
    run = db.session.get(Run, run_id)
    run.total_processed = rows
    run.unchanged_count = rows - incomplete
    run.warning_count += incomplete
    limit = stale_after()
    hours = f"{limit.total_seconds() / 3600:g} h"
    if rows and (fetched is None or now - fetched.fetched_at > limit):
        summary["stale"] = True
        if fetched is None:
            text = (
                f"{connector.name} has never fetched this catalog feed, and {rows} product(s) "
                "are published: give it the feed URL (the account page)."
            )
        else:
            text = (
                f"{connector.name} has not fetched this catalog feed since "
                f"{catalogfeed.iso(fetched.fetched_at)} (more than {hours}); {rows} product(s) "
                "are published: it is not reading what Mercato says."
            )
        run.error_count += 1
        db.session.commit()
        lifecycle.note(run, R.ERROR, STALE, text)
        run = db.session.get(Run, run_id)
        lifecycle.finish(run, R.COMPLETED_WITH_ERRORS)
        return summary
    db.session.commit()
    lifecycle.finish(run, R.COMPLETED)
    return summary

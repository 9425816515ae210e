"""The supplier-catalogue flow: a digital-goods supplier's catalogue (CodesWholesale) into the
store's marketplace products, through the import engine's bulk path.

The connector's pages (:meth:`connectors.capabilities.SupplierCatalog.fetch_catalog`) are
written as one CSV the engine reads like any feed (columnar parsing, batched lookups, one
transaction per batch, unchanged rows recognised and skipped), so thousands of products cost
what a feed of the same rows costs and never a query each.  Each product becomes a marketplace
product of marketplace ``codeswholesale`` (the account's connector): its title, the default
tier's price as the supplier's cost in the account's currency, its stock as quantity and
availability (``preorder`` before its release date), and in ``extra``: ``is_digital``,
``product_type`` = digital, ``identifier``, ``platform``, ``regions``, ``languages`` (each
joined with ", "), ``release_date`` (ISO, UTC) and ``tier_prices``
(``1-9:3.33;10-49:3.23;50-:3.13``, :func:`connectors.suppliers.decode_tiers` reads it).
Every sync reads the whole catalogue, so a product it no longer lists is marked out of stock.
"""

from __future__ import annotations

import csv
import logging
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, or_, select, update

from connectors.base import Capability
from connectors.errors import ConnectorError
from connectors.suppliers import SupplierProduct, encode_tiers
from webapp.connector import connector_for
from webapp.extensions import db
from webapp.imports.engine import ImportRunner, fail, reset_for_execution
from webapp.imports.reader import FeedError
from webapp.imports.request import work_dir
from webapp.models import MarketplaceProduct, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.runs.lifecycle import finish
from webapp.runs.registry import flow

log = logging.getLogger("mercato.feeds")

__all__ = ["COLUMNS", "mark_gone", "product_row", "sync_supplier_catalog", "write_catalog"]

# The engine maps the first seven onto its fields; the rest are kept in ``extra``.
COLUMNS = (
    "id",
    "title",
    "price",
    "currency",
    "quantity",
    "availability",
    "image_link",
    "is_digital",
    "product_type",
    "identifier",
    "platform",
    "regions",
    "languages",
    "release_date",
    "tier_prices",
)
# Lists in one cell: no quote in any cell Mercato writes here (a value with a quote sends
# the rest of the file off the engine's columnar path, see webapp/imports/columnar.py).
LIST_SEPARATOR = ", "
MAX_MESSAGES = 1000  # odd records said, beyond which they are only counted
GONE_CHUNK = 1000  # products marked gone per statement


def _availability(product: SupplierProduct, now: datetime) -> str:
    if product.release_date is not None and product.release_date > now:
        return "preorder"
    return "in_stock" if product.quantity > 0 else "out_of_stock"


def product_row(product: SupplierProduct, currency: str, now: datetime) -> list[str]:
    """The CSV row of one product (cells in :data:`COLUMNS` order)."""
    price = product.price
    released = product.release_date
    return [
        product.product_id,
        product.name,
        "" if price is None else str(price),
        currency if price is not None else "",
        str(product.quantity),
        _availability(product, now),
        product.image_url or "",
        "true",
        "digital",
        product.identifier or "",
        product.platform or "",
        LIST_SEPARATOR.join(product.regions),
        LIST_SEPARATOR.join(product.languages),
        released.strftime("%Y-%m-%dT%H:%M:%SZ") if released is not None else "",
        encode_tiers(product.prices),
    ]


def write_catalog(pages, path: Path, currency: str, now: datetime | None = None):
    """Write the connector's ``pages`` as the engine's CSV at ``path``; returns (the product
    ids written, [(catalogue record number, product id or None, severity, type, sentence)])."""
    now = now or datetime.now(UTC)
    said: list[tuple[int, str | None, str, str, str]] = []
    seen: set[str] = set()
    record = 0
    # Not a CSV anybody opens: the engine reads it back, and every cell must arrive as the
    # supplier sent it (no spreadsheet defusing, see webapp/csvsafe.py).
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for page in pages:
            for item in page:
                record += 1
                if not isinstance(item, SupplierProduct):
                    said.append((record, None, R.ERROR, "unreadable_record", str(item)))
                    continue
                seen.add(item.product_id)
                out.writerow(product_row(item, currency, now))
                for warning in item.warnings:
                    said.append((record, item.product_id, R.WARNING, "supplier_data", warning))
    return seen, said


def mark_gone(run: Run, seen: set[str]) -> int:
    """The account's supplier products the catalogue no longer lists: out of stock, quantity
    0 (never sold as available again), their content hash cleared so that coming back, even
    exactly as before, is a change the next sync writes.  Returns how many."""
    mp = MarketplaceProduct
    still_offered = db.session.execute(
        select(mp.id, mp.marketplace_product_id).where(
            mp.store_id == run.store_id,
            mp.marketplace == run.marketplace,
            or_(
                mp.availability.is_(None),
                mp.availability != "out_of_stock",
                mp.quantity.is_(None),
                mp.quantity != 0,
            ),
        )
    ).all()
    gone = [pk for pk, product_id in still_offered if product_id not in seen]
    now = utcnow()
    for start in range(0, len(gone), GONE_CHUNK):
        db.session.execute(
            update(mp)
            .where(mp.id.in_(gone[start : start + GONE_CHUNK]))
            .values(
                quantity=0,
                availability="out_of_stock",
                content_hash=0,
                last_import_job_id=run.id,
                updated_at=now,
            )
        )
    if gone:
        run.updated_count += len(gone)
        db.session.execute(
            insert(Message),
            [
                {
                    "import_job_id": run.id,
                    "severity": R.INFO,
                    "error_type": "left_catalogue",
                    "row_number": 0,
                    "error_message": (
                        f"{len(gone)} products are no longer in the supplier's catalogue: "
                        "now out of stock."
                    ),
                    "created_at": now,
                }
            ],
        )
    db.session.commit()
    return len(gone)


def _record(run: Run, said: list[tuple]) -> None:
    """The catalogue's odd records as the run's messages (after the engine's, which it
    clears when it starts), and counted."""
    if not said:
        return
    now = utcnow()
    rows = [
        {
            "import_job_id": run.id,
            "severity": severity,
            "error_type": kind,
            "row_number": row,
            "identifier": (identifier or "")[:255] or None,
            "error_message": f"Catalogue record {row}: {text}"[:2000],
            "created_at": now,
        }
        for row, identifier, severity, kind, text in said[:MAX_MESSAGES]
    ]
    db.session.execute(insert(Message), rows)
    run.warning_count += sum(1 for s in said if s[2] == R.WARNING)
    errors = sum(1 for s in said if s[2] == R.ERROR)
    run.error_count += errors
    run.total_processed += errors
    if errors and run.status == R.COMPLETED:
        run.status = R.COMPLETED_WITH_ERRORS
    db.session.commit()


@flow(
    "supplier_catalog",
    label="Sync supplier catalog",
    capability=Capability.SUPPLIER_CATALOG,
    run_kind="product_import",
    interval_seconds=6 * 3600,
    queue="imports",
)
def sync_supplier_catalog(run: Run) -> None:
    """Read the supplier's whole catalogue, then upsert it as the account's marketplace
    products (the engine's run: counts, progress, messages, unchanged rows skipped)."""
    account = run.account
    reset_for_execution(run)
    path = work_dir() / f"run-{run.id}.supplier.csv"
    try:
        connector = connector_for(account)
        seen, said = write_catalog(connector.fetch_catalog(), path, connector.currency)
        log.info(
            "job=supplier_catalog run_id=%s account_id=%s products=%s unreadable=%s",
            run.id,
            account.id,
            len(seen),
            sum(1 for s in said if s[2] == R.ERROR),
        )
        run.marketplace = account.connector
        run.source_url = f"{connector.base_url}/{connector.version}/products"
        db.session.commit()
        ImportRunner(run, path).execute()
        _record(run, said)
        if seen:  # an empty catalogue is the supplier's glitch, not every product gone
            mark_gone(run, seen)
    except ConnectorError as exc:
        fail(run, str(exc))
        db.session.execute(
            insert(Message),
            [
                {
                    "import_job_id": run.id,
                    "severity": exc.severity,
                    "error_type": "connector_error",
                    "error_message": str(exc)[:2000],
                    "subject_type": "account",
                    "subject_id": account.id,
                    "account_id": account.id,
                    "store_id": account.store_id,
                    "created_at": utcnow(),
                }
            ],
        )
        run.error_count += 1
        db.session.commit()
    except FeedError as exc:
        fail(run, str(exc))
    finally:
        path.unlink(missing_ok=True)
    if run.status in R.ACTIVE_STATUSES:
        finish(run, R.COMPLETED_WITH_ERRORS if run.error_count else R.COMPLETED)

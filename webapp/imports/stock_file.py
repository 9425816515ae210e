"""The stock file: a feed kind of its own ("import stock"), a CSV/TSV of SKU and quantity
(optionally warehouse), read with the product import's reader (any encoding and delimiter it
handles, gzip and zip, the same download limits and egress checks).

Sources: a file given to the run (an upload, ``flask stock import --source PATH``), a URL
given to it (``--source URL``), or, for a scheduled run of the store's ``import_stock`` feed,
the stock file URL of the store's stock settings. Each row sets on hand of its SKU in its
warehouse (the default when the file has no warehouse column or the cell is empty; a new
code adds the warehouse); a row that cannot be read is one error message naming its row.
Levels are written in batches, one transaction each, with one ``stock_file`` movement per
changed level; an unchanged quantity writes nothing.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from pathlib import Path

import click
from sqlalchemy import insert

from connectors.egress import FetchError, OutboundRefused, mask_url
from webapp.crypto import decrypt, encrypt
from webapp.extensions import db
from webapp.imports.mapping import fold
from webapp.imports.reader import DelimitedReader, FeedError, sniff_format, text_stream
from webapp.imports.request import ImportRequestError
from webapp.imports.service import _download, validate_url
from webapp.imports.sources import open_feed
from webapp.models import Message, Run, Store
from webapp.models import runs as R
from webapp.models import stock as S
from webapp.models.base import utcnow
from webapp.runs import lifecycle
from webapp.runs.registry import flow
from webapp.stock import levels
from webapp.stock.cli import stock_cli

log = logging.getLogger("mercato.stock")

RUN_KIND = "stock_import"
FEED_KIND = "import_stock"
BATCH = 5000
SKU_NAMES = ("sku", "id", "reference", "ref", "productid", "itemid", "offerid", "articleid")
QUANTITY_NAMES = ("quantity", "qty", "stock", "quantite", "qte", "menge", "bestand", "onhand")
WAREHOUSE_NAMES = ("warehouse", "warehousecode", "location", "entrepot", "lager", "depot")


def _plain(header: str) -> str:
    """A header folded and without accents ("Quantité" -> "quantite")."""
    decomposed = unicodedata.normalize("NFKD", fold(header))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _column(header: list[str], names) -> int | None:
    folded = [_plain(h) for h in header]
    for name in names:
        if name in folded:
            return folded.index(name)
    return None


@flow(
    FEED_KIND,
    label="Import stock",
    owner="store",
    run_kind=RUN_KIND,
    interval_seconds=900,
    queue="imports",
)
def import_stock(run: Run) -> None:
    """Read the run's stock file (or the store's configured one) into the stock levels."""
    if not run.source_path and not run.source_url:
        settings = db.session.get(S.StoreStockSettings, run.store_id)
        if settings is None or not settings.stock_file_url:
            lifecycle.note(
                run,
                R.INFO,
                "no_stock_file",
                "No stock file URL is set in the store's stock settings: nothing to import.",
            )
            return
        run.source_url = settings.stock_file_url
        run.source_secret = settings.stock_file_secret
        db.session.commit()
    downloaded = None
    try:
        run.phase = "downloading"
        db.session.commit()
        if run.source_path:
            path = Path(run.source_path)
        else:
            validate_url(decrypt(run.source_secret) if run.source_secret else run.source_url)
            downloaded = path = _download(run)
        _read(run, path)
    except (FeedError, FetchError, OutboundRefused, ImportRequestError) as exc:
        db.session.rollback()
        lifecycle.note(run, R.ERROR, "stock_file", str(exc))
        run = db.session.get(Run, run.id)
        run.error_count += 1
        lifecycle.finish(run, R.FAILED, str(exc))
    finally:
        if downloaded is not None:
            downloaded.unlink(missing_ok=True)


def _read(run: Run, path: Path) -> None:
    store_id = run.store_id
    run_id = run.id
    run.phase = "parsing"
    db.session.commit()
    with open_feed(path) as (factory, _progress):
        sample = factory().read(65536)
        if sniff_format(sample) != "delimited":
            raise FeedError("A stock file is a CSV or TSV file (a SKU and a quantity per row).")
        reader = DelimitedReader(text_stream(factory(), sample))
        header = reader.start()
        sku_col = _column(header, SKU_NAMES)
        qty_col = _column(header, QUANTITY_NAMES)
        wh_col = _column(header, WAREHOUSE_NAMES)
        if sku_col is None or qty_col is None:
            raise FeedError(
                "The stock file needs a SKU column and a quantity column "
                f"(its header: {', '.join(header)[:300]})."
            )
        warehouses: dict[str, int] = {}
        counts = {"updated": 0, "unchanged": 0, "errors": 0, "total": 0}
        batch: list[tuple[str, int, int]] = []
        messages: list[dict] = []

        def flush() -> None:
            changed = levels.set_on_hand(store_id, batch, reason=S.STOCK_FILE, run_id=run_id)
            counts["updated"] += changed
            counts["unchanged"] += len({(s, w) for s, w, _ in batch}) - changed
            if messages:
                db.session.execute(insert(Message), messages)
            db.session.execute(
                Run.__table__.update()
                .where(Run.__table__.c.id == run_id)
                .values(
                    updated_count=counts["updated"],
                    unchanged_count=counts["unchanged"],
                    error_count=counts["errors"],
                    total_processed=counts["total"],
                )
            )
            db.session.commit()
            batch.clear()
            messages.clear()

        for record in reader:
            counts["total"] += 1
            problem, sku = _row(record, sku_col, qty_col, wh_col, store_id, warehouses, batch)
            if problem is not None:
                counts["errors"] += 1
                messages.append(
                    {
                        "import_job_id": run_id,
                        "severity": R.ERROR,
                        "error_type": "stock_row",
                        "row_number": record.row_number,
                        "identifier": (sku or None) and sku[:255],
                        "error_message": f"Row {record.row_number}: {problem}.",
                        "row_data": {"cells": (record.cells or [])[:20]},
                        "created_at": utcnow(),
                    }
                )
            if len(batch) >= BATCH or len(messages) >= BATCH:
                flush()
        flush()
    run = db.session.get(Run, run_id)
    lifecycle.finish(run, R.COMPLETED_WITH_ERRORS if run.error_count else R.COMPLETED)


def _row(record, sku_col, qty_col, wh_col, store_id, warehouses, batch):
    cells = record.cells
    if cells is None:
        return record.error or "the row cannot be read", None
    sku = cells[sku_col].strip() if sku_col < len(cells) else ""
    if not sku:
        return "the SKU is empty", None
    if len(sku) > 255:
        return "the SKU is longer than 255 characters", sku
    raw = cells[qty_col].strip() if qty_col < len(cells) else ""
    try:
        quantity = int(raw)
    except ValueError:
        try:
            number = float(raw.replace(",", "."))
        except ValueError:
            return f"the quantity {raw[:40]!r} of SKU {sku} is not a number", sku
        if number != int(number):
            return f"the quantity {raw[:40]!r} of SKU {sku} is not a whole number", sku
        quantity = int(number)
    if quantity < 0 or quantity > 2_000_000_000:
        return f"the quantity {quantity} of SKU {sku} is out of range (0 or more)", sku
    code = cells[wh_col].strip() if wh_col is not None and wh_col < len(cells) else ""
    if len(code) > 64:
        return "the warehouse code is longer than 64 characters", sku
    wh = warehouses.get(code)
    if wh is None:
        wh = warehouses[code] = levels.warehouse_id(store_id, code or None, create=True)
    batch.append((sku, wh, quantity))
    return None, sku


# -- starting it -------------------------------------------------------------------------------


def store_feed(store: Store):
    from webapp.models import Feed

    return db.session.scalar(
        db.select(Feed).where(
            Feed.store_id == store.id, Feed.kind == FEED_KIND, Feed.account_id.is_(None)
        )
    )


def create_stock_run(
    store: Store,
    *,
    source_url: str | None = None,
    source_path: str | None = None,
    source_name: str | None = None,
    trigger: str = "cli",
    user_id: int | None = None,
) -> Run:
    """A pending stock-file run of the store (its feed's, when it has one)."""
    if bool(source_url) == bool(source_path):
        raise ImportRequestError("Give either a stock file URL or a file, not both nor neither.")
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
    started = lifecycle.create(
        kind=RUN_KIND,
        store_id=store.id,
        feed=store_feed(store),
        trigger=trigger,
        user_id=user_id,
        **source,
    )
    if not started.started:
        raise ImportRequestError(
            f"The store's stock import is already running: execution #{started.run.id}."
        )
    return started.run


@stock_cli.command("import")
@click.option("--store", "store_code", required=True)
@click.option("--source", required=True, help="A local CSV/TSV file or an http(s) URL.")
def stock_import(store_code: str, source: str) -> None:
    """Read a stock file now, inline; the last line printed is the run's JSON summary."""
    from webapp.cli_input import store_or_fail

    store = store_or_fail(store_code)
    is_url = source.lower().startswith(("http://", "https://"))
    if not is_url and not Path(source).is_file():
        raise click.ClickException(f"No file {source!r}.")
    try:
        run = create_stock_run(
            store,
            source_url=source if is_url else None,
            source_path=None if is_url else str(Path(source).resolve()),
        )
    except ImportRequestError as exc:
        raise click.ClickException(str(exc)) from exc
    run = lifecycle.execute(run.id)
    click.echo(json.dumps(run.summary()))
    if run.status == R.FAILED:
        raise SystemExit(1)

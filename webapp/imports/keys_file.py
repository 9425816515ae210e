"""Uploading keys to a store's pool: a CSV file read by the product import's reader (any
encoding and delimiter it handles, gzip and zip), as a run of the store's "Import digital
keys" feed (the flow ``import_keys``), so every upload is among the store's executions.

The file has a header row and one key per row:

=====================  ====================================================================
column                 meaning
=====================  ====================================================================
sku                    the store's SKU the key is for (also: reference, ref, product_sku)
supplier_product_id    or the supplier's product id (also: product_id, cw_product_id)
key                    the key itself (also: code, license_key, serial, activation_code, pin)
expiry                 optional: the last day the key can be given out (YYYY-MM-DD,
                       DD/MM/YYYY, DD.MM.YYYY: valid through that day, UTC), or an ISO
                       date-time (given out strictly before it)
=====================  ====================================================================

Each key is encrypted and fingerprinted (:mod:`webapp.keys.codes`) before it is written; a
key already in the store's pool, or earlier in the same file, is a duplicate: counted, not
written again (``uq_digital_keys_store_fingerprint`` decides, so two uploads at once still
store a key once), named by row in an info message (the first 1,000 of a run). A bad row
(no key, no product, a date that is not one, a key already expired) is one error message
with its row number and why, the key masked (:func:`webapp.keys.codes.masked`): a key is
never written anywhere in clear, not even in a message's row data.

A key for a SKU the store's catalog does not have (yet) is kept, with one warning per such
SKU: keys are often bought before the product is listed, and the key is only given out to an
order line of that SKU anyway. A key named by supplier product id only is not checked (the
supplier catalogue may not be synced).

After the file, the low-pool alerts are refreshed (:func:`webapp.keys.levels.refresh_alerts`).
A run of the feed without a file (Run now, its hourly schedule when the store turns the feed
on) only checks the levels: it raises the alerts that keys expiring or given out call for,
and closes the refilled ones.

Run counts: ``total_processed`` rows read, ``imported_count`` keys added,
``unchanged_count`` duplicates, ``error_count`` bad rows, ``warning_count`` unknown SKUs.
"""

from __future__ import annotations

import json
import logging
import os
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db
from webapp.imports.mapping import fold
from webapp.imports.reader import (
    SAMPLE_BYTES,
    DelimitedReader,
    FeedError,
    sniff_format,
    text_stream,
)
from webapp.imports.request import ImportRequestError, work_dir
from webapp.imports.sources import open_feed
from webapp.imports.uploads import discard, save_upload
from webapp.keys import codes
from webapp.keys import levels as pool_levels
from webapp.models import MarketplaceProduct, Message, Run, Store
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.keys import POOL, TEXT, DigitalKey
from webapp.runs import lifecycle
from webapp.runs.registry import flow

log = logging.getLogger("mercato.keys")

FEED_KIND = "import_keys"
RUN_KIND = "key_import"
BATCH = 1000
MAX_KEY_LENGTH = 2000
MAX_BYTES = 50 * 1024 * 1024  # a million keys is ~40 MB of CSV
MAX_DUPLICATE_NOTES = 1000  # duplicate rows named one by one; the rest are counted

SKU_NAMES = ("sku", "reference", "ref", "productsku", "articlenumber", "offersku")
SUPPLIER_NAMES = (
    "supplierproductid",
    "productid",
    "cwproductid",
    "codeswholesaleproductid",
    "codeswholesaleid",
    "supplierid",
)
KEY_NAMES = (
    "key",
    "code",
    "keycode",
    "licensekey",
    "licencekey",
    "license",
    "licence",
    "serial",
    "serialnumber",
    "activationcode",
    "productkey",
    "cdkey",
    "giftcard",
    "giftcardcode",
    "pin",
    "cle",
    "schlussel",
    "lizenzschlussel",
)
EXPIRY_NAMES = (
    "expiry",
    "expires",
    "expiresat",
    "expiry_date",
    "expirydate",
    "expirationdate",
    "expiration",
    "validuntil",
    "validto",
    "expire",
    "peremption",
    "ablaufdatum",
    "gultigbis",
)


def _plain(header: str) -> str:
    """A header folded and without accents ("Clé" -> "cle")."""
    decomposed = unicodedata.normalize("NFKD", fold(header))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _column(header: list[str], names) -> int | None:
    folded = [_plain(h) for h in header]
    for name in names:
        if _plain(name) in folded:
            return folded.index(_plain(name))
    return None


# -- expiry ---------------------------------------------------------------------------------

DAY_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d")


def parse_expiry(text: str) -> datetime | None:
    """The moment a key stops being given out (naive UTC); None for an empty cell.
    A day is valid through that day; a date-time (ISO 8601, with or without offset) is
    the moment itself. ValueError when it is neither."""
    text = text.strip()
    if not text:
        return None
    for fmt in DAY_FORMATS:
        try:
            return datetime.strptime(text, fmt) + timedelta(days=1)
        except ValueError:
            continue
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"the expiry {text[:40]!r} is not a date (YYYY-MM-DD, DD/MM/YYYY or an ISO date-time)"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


# -- starting it ----------------------------------------------------------------------------


def store_feed(store: Store):
    from webapp.feeds.defaults import ensure_store_feed

    feed = ensure_store_feed(store, FEED_KIND)
    db.session.commit()
    return feed


def create_run(
    store: Store,
    *,
    source_path: str | None,
    source_name: str | None = None,
    trigger: str = "cli",
    user_id: int | None = None,
) -> Run:
    """A pending run of the store's key feed (a file, or none: a level check). Refused
    (ImportRequestError) while another one of the store is pending or running."""
    fields: dict = {}
    if source_path:
        fields = {
            "source_path": str(source_path),
            "source_name": source_name or Path(source_path).name,
        }
    started = lifecycle.create(
        kind=RUN_KIND,
        store_id=store.id,
        feed=store_feed(store),
        trigger=trigger,
        user_id=user_id,
        language=store.default_language,
        **fields,
    )
    if not started.started:
        raise AlreadyRunning(started.run)
    return started.run


class AlreadyRunning(ImportRequestError):
    def __init__(self, run: Run) -> None:
        self.run = run
        super().__init__(
            f"The store's key import #{run.id} is still {run.status}: wait for it to finish."
        )


def start_upload(
    store: Store, upload, *, user_id: int | None = None, trigger: str = "ui", inline=False
) -> Run:
    """Save an uploaded key file and start its run (queued, or ``inline``); a refused upload
    (none, empty, too large, an import of the store still running) raises
    ImportRequestError and leaves nothing behind, not even the file."""
    if upload is None or not getattr(upload, "filename", ""):
        raise ImportRequestError("Choose a CSV file of keys to upload.")
    path, name = save_upload(upload)
    try:
        if os.path.getsize(path) > MAX_BYTES:
            raise ImportRequestError(
                f"The file is larger than the {MAX_BYTES // (1024 * 1024)} MB limit of a key "
                "file: split it."
            )
        run = create_run(
            store, source_path=path, source_name=name, trigger=trigger, user_id=user_id
        )
    except BaseException:
        db.session.rollback()
        discard(path)
        raise
    if inline:
        return lifecycle.execute(run.id)
    run = lifecycle.enqueue(run)
    if run.status == R.FAILED:  # the queue could not be reached: the keys must not linger
        discard(path)
    return run


def check_now(store: Store, *, trigger: str = "ui", user_id: int | None = None) -> Run | None:
    """Check the levels now, inline (after a threshold change or a deletion): None when an
    import of the store is running (its end checks them)."""
    try:
        run = create_run(store, source_path=None, trigger=trigger, user_id=user_id)
    except AlreadyRunning:
        return None
    return lifecycle.execute(run.id)


def summary(run: Run) -> dict:
    """The JSON the CLI prints last and the API returns."""
    outcome = getattr(run, "outcome", None) or {}
    return {
        "job_id": run.id,
        "kind": run.kind,
        "status": run.status,
        "rows": run.total_processed,
        "imported": run.imported_count,
        "duplicates": run.unchanged_count,
        "errors": run.error_count,
        "unknown_skus": run.warning_count,
        **{k: v for k, v in outcome.items() if k.startswith("duplicates_")},
        "error": run.error_message,
    }


# -- the flow -------------------------------------------------------------------------------


@flow(
    FEED_KIND,
    label="Import digital keys",
    owner="store",
    run_kind=RUN_KIND,
    interval_seconds=3600,
    queue="imports",
)
def import_keys(run: Run) -> dict:
    """Read the run's key file into the store's pool, then refresh the low-pool alerts; a
    run without a file only refreshes them."""
    run_id, store_id = run.id, run.store_id
    if not run.source_path:
        alerts = pool_levels.refresh_alerts(store_id, run_id)
        lifecycle.note(
            run,
            R.INFO,
            "levels_checked",
            f"Key pool levels checked: {alerts['low']} product(s) low, {alerts['raised']} "
            f"alert(s) raised, {alerts['closed']} closed.",
        )
        return {}
    path = Path(run.source_path)
    try:
        outcome = _read(run, path)
    except FeedError as exc:
        db.session.rollback()
        run = db.session.get(Run, run_id)
        lifecycle.note(run, R.ERROR, "key_file", str(exc))
        run.error_count += 1
        lifecycle.finish(run, R.FAILED, str(exc))
        pool_levels.refresh_alerts(store_id, run_id)  # earlier batches may have landed
        return {}
    finally:
        if _owned_upload(path):  # a file of clear keys is not kept a moment longer
            path.unlink(missing_ok=True)
    pool_levels.refresh_alerts(store_id, run_id)
    run = db.session.get(Run, run_id)
    lifecycle.finish(run, R.COMPLETED_WITH_ERRORS if run.error_count else R.COMPLETED)
    return outcome


def _owned_upload(path: Path) -> bool:
    try:
        path.resolve().relative_to((work_dir() / "uploads").resolve())
        return True
    except ValueError:
        return False


class _Bad(Exception):
    pass


def _cell(cells: list[str], index: int | None) -> str:
    return cells[index].strip() if index is not None and index < len(cells) else ""


def _read(run: Run, path: Path) -> dict:
    store_id, run_id = run.store_id, run.id
    run.phase = "parsing"
    db.session.commit()
    if not path.is_file():
        raise FeedError("The key file is no longer there: upload it again.")
    counts = {
        "total": 0,
        "imported": 0,
        "duplicates_in_file": 0,
        "duplicates_in_pool": 0,
        "errors": 0,
        "unknown_skus": 0,
    }
    seen: dict[str, int] = {}  # fingerprint -> its first row in this file
    checked_skus: set[str] = set()
    batch: list[dict] = []
    batch_rows: list[tuple[int, dict]] = []  # each batch row's number and masked data
    noted = {"duplicates": 0}
    messages: list[dict] = []
    first_row: dict[str, int] = {}  # SKU -> its first row in the batch (the warning's row)

    def flush() -> None:
        _warn_unknown(run_id, store_id, first_row, checked_skus, messages, counts)
        if batch:
            inserted = _insert(batch)
            counts["imported"] += len(inserted)
            counts["duplicates_in_pool"] += len(batch) - len(inserted)
            for row, (number, data) in zip(batch, batch_rows, strict=True):
                if row["fingerprint"] not in inserted:
                    duplicate(number, data, "is already in the store's pool")
        if messages:
            db.session.execute(Message.__table__.insert(), messages)
        db.session.execute(
            Run.__table__.update()
            .where(Run.__table__.c.id == run_id)
            .values(
                imported_count=counts["imported"],
                unchanged_count=counts["duplicates_in_file"] + counts["duplicates_in_pool"],
                error_count=counts["errors"],
                warning_count=counts["unknown_skus"],
                total_processed=counts["total"],
            )
        )
        db.session.commit()
        batch.clear()
        batch_rows.clear()
        messages.clear()
        first_row.clear()

    def duplicate(number: int, data: dict, why: str) -> None:
        """An info message per duplicate row (the first MAX_DUPLICATE_NOTES of a run)."""
        noted["duplicates"] += 1
        if noted["duplicates"] > MAX_DUPLICATE_NOTES:
            return
        messages.append(
            {
                "import_job_id": run_id,
                "severity": R.INFO,
                "error_type": "duplicate_key",
                "row_number": number,
                "identifier": data.get("sku") or data.get("supplier_product_id"),
                "error_message": f"Row {number}: the key {data['key']} {why}: skipped.",
                "row_data": data,
                "created_at": utcnow(),
            }
        )

    with open_feed(path) as (factory, _progress):
        sample = factory().read(SAMPLE_BYTES)
        if sniff_format(sample) != "delimited":
            raise FeedError("A key file is a CSV or TSV file (a product and a key per row).")
        reader = DelimitedReader(text_stream(factory(), sample))
        header = reader.start()
        columns = {
            "sku": _column(header, SKU_NAMES),
            "supplier": _column(header, SUPPLIER_NAMES),
            "key": _column(header, KEY_NAMES),
            "expiry": _column(header, EXPIRY_NAMES),
        }
        if columns["key"] is None or (columns["sku"] is None and columns["supplier"] is None):
            # Never echo the header: a file without one has a key in its first row.
            raise FeedError(
                "The key file needs a header row with a key column (key, code, license_key, "
                "serial...) and a SKU column or a supplier_product_id column; this file's "
                f"{len(header)} column(s) have none of these names."
            )
        now = utcnow()
        for record in reader:
            if record.cells is not None and not any(c.strip() for c in record.cells):
                continue  # a blank line
            counts["total"] += 1
            try:
                row, data = _row(record, columns, store_id, now)
                row["import_run_id"] = run_id
            except _Bad as exc:
                problem, data = exc.args
                counts["errors"] += 1
                messages.append(
                    {
                        "import_job_id": run_id,
                        "severity": R.ERROR,
                        "error_type": "bad_key_row",
                        "row_number": record.row_number,
                        "identifier": (data.get("sku") or data.get("supplier_product_id") or None),
                        "error_message": f"Row {record.row_number}: {problem}.",
                        "row_data": data,
                        "created_at": now,
                    }
                )
            else:
                first = seen.get(row["fingerprint"])
                if first is not None:
                    counts["duplicates_in_file"] += 1
                    duplicate(record.row_number, data, f"is given twice in the file (row {first})")
                else:
                    seen[row["fingerprint"]] = record.row_number
                    batch.append(row)
                    batch_rows.append((record.row_number, data))
                    if row["sku"] and row["sku"] not in checked_skus:
                        first_row.setdefault(row["sku"], record.row_number)
            if len(batch) >= BATCH or len(messages) >= BATCH:
                flush()
        flush()
    duplicates = counts["duplicates_in_file"] + counts["duplicates_in_pool"]
    if duplicates:
        lifecycle.note(
            db.session.get(Run, run_id),
            R.INFO,
            "duplicate_keys",
            f"{duplicates} duplicate key(s) skipped: {counts['duplicates_in_file']} given twice "
            f"in the file, {counts['duplicates_in_pool']} already in the store's pool"
            + (
                f" (the first {MAX_DUPLICATE_NOTES:,} are named by row)."
                if duplicates > MAX_DUPLICATE_NOTES
                else "."
            ),
        )
    return counts


def _row(record, columns: dict, store_id: int, now) -> tuple[dict, dict]:
    cells = record.cells
    if cells is None:  # the reader could not split it: nothing of it is shown
        raise _Bad(f"the row cannot be read ({record.error or 'malformed'})", {})
    sku = _cell(cells, columns["sku"]) or None
    supplier = _cell(cells, columns["supplier"]) or None
    code = codes.normalise(_cell(cells, columns["key"]))
    expiry_text = _cell(cells, columns["expiry"])
    data = {"sku": sku, "supplier_product_id": supplier, "key": codes.masked(code) if code else ""}
    if expiry_text:
        data["expiry"] = expiry_text[:40]
    for name in ("sku", "supplier_product_id"):
        if data[name] and len(data[name]) > 255:
            data[name] = data[name][:255]
            raise _Bad(f"the {name.replace('_', ' ')} is longer than 255 characters", data)
    if not code:
        raise _Bad("the key is empty", data)
    if len(code) > MAX_KEY_LENGTH:
        raise _Bad(f"the key ({data['key']}) is longer than {MAX_KEY_LENGTH} characters", data)
    if "\x00" in code:
        raise _Bad(f"the key ({data['key']}) holds a NUL character", data)
    if not sku and not supplier:
        raise _Bad(f"the key {data['key']} names no SKU nor supplier product id", data)
    try:
        expires_at = parse_expiry(expiry_text)
    except ValueError as exc:
        raise _Bad(f"{exc} (key {data['key']})", data) from None
    if expires_at is not None and expires_at <= now:
        raise _Bad(
            f"the key {data['key']} expired on {expiry_text[:40]}: not added to the pool", data
        )
    return {
        "store_id": store_id,
        "sku": sku,
        "supplier_product_id": supplier,
        "source": POOL,
        "code_type": TEXT,
        "code_encrypted": codes.seal(code),
        "fingerprint": codes.fingerprint(store_id, code),
        "expires_at": expires_at,
        "created_at": now,
        "updated_at": now,
    }, data


def _insert(rows: list[dict]) -> set[str]:
    """The batch's keys the store does not have yet; returns the fingerprints written."""
    table = DigitalKey.__table__
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["store_id", "fingerprint"])
        .returning(table.c.fingerprint)
    )
    return set(db.session.scalars(stmt, rows))


def _warn_unknown(run_id, store_id, first_row, checked, messages, counts) -> None:
    """One warning per SKU of this batch the store's catalog does not know (once a run)."""
    skus = [s for s in first_row if s not in checked]
    if not skus:
        return
    known = set(
        db.session.scalars(
            select(MarketplaceProduct.marketplace_product_id).where(
                MarketplaceProduct.store_id == store_id,
                MarketplaceProduct.marketplace_product_id.in_(skus),
            )
        )
    )
    now = utcnow()
    for sku in skus:
        checked.add(sku)
        if sku in known:
            continue
        counts["unknown_skus"] += 1
        messages.append(
            {
                "import_job_id": run_id,
                "severity": R.WARNING,
                "error_type": "unknown_sku_keys",
                "row_number": first_row[sku],
                "identifier": sku,
                "row_data": {"sku": sku},
                "error_message": (
                    f"Row {first_row[sku]}: SKU {sku} is not in the store's catalog: its keys "
                    "are kept and given out once order lines of that SKU arrive."
                ),
                "created_at": now,
            }
        )


# -- the command line -------------------------------------------------------------------------

keys_cli = AppGroup("keys", help="A store's pool of digital keys: upload, levels.")


@keys_cli.command("import")
@click.option("--store", "store_code", required=True)
@click.option("--source", required=True, help="A local CSV/TSV file of keys.")
def keys_import(store_code: str, source: str) -> None:
    """Upload a key file now, inline; the last line printed is the run's JSON summary
    ({"imported", "duplicates", "errors", ...})."""
    from webapp.cli_input import store_or_fail

    store = store_or_fail(store_code)
    if not Path(source).is_file():
        raise click.ClickException(f"No file {source!r}.")
    try:
        run = create_run(store, source_path=str(Path(source).resolve()), trigger="cli")
    except ImportRequestError as exc:
        raise click.ClickException(str(exc)) from exc
    run = lifecycle.execute(run.id)
    click.echo(json.dumps(summary(run)))
    if run.status == R.FAILED:
        raise SystemExit(1)


@keys_cli.command("levels")
@click.option("--store", "store_code", required=True)
@click.option("--format", "fmt", default="jsonl", type=click.Choice(["jsonl"]))
def keys_levels(store_code: str, fmt: str) -> None:
    """Per product of the pool: sku, supplier_product_id, available, assigned, expired (one
    JSON object a line)."""
    from webapp.cli_input import store_or_fail

    store = store_or_fail(store_code)
    for level in pool_levels.levels(store.id):
        click.echo(json.dumps(level.as_dict()))


@keys_cli.command("threshold")
@click.option("--store", "store_code", required=True)
@click.option("--set", "value", default=None, help="A whole number; 0 turns the alert off.")
def keys_threshold(store_code: str, value: str | None) -> None:
    """Show (or set, then check the levels against) the store's low-pool threshold."""
    from webapp.cli_input import store_or_fail

    store = store_or_fail(store_code)
    if value is not None:
        try:
            number = pool_levels.parse_threshold(value)
        except pool_levels.ThresholdError as exc:
            raise click.ClickException(str(exc)) from exc
        pool_levels.set_threshold(store.id, number)
        db.session.commit()
        check_now(store, trigger="cli")
    click.echo(json.dumps({"store": store.code, "low_threshold": pool_levels.threshold(store.id)}))

"""Bulk shipping: a CSV file of shipments, read by the import engine's reader, recorded one
order at a time as a run (the flow ``bulk_shipping``) with a message per bad row.

The file (any encoding and delimiter the product import reads: :mod:`webapp.imports.reader`)
has a header row and one row per shipped parcel, or per line of a parcel:

================  =========================================================================
column            meaning
================  =========================================================================
order             the marketplace's order id, as the orders list shows it; or ``#123``, the
                  Mercato id (the ``id`` of ``flask orders export``). Required.
carrier           the marketplace's carrier code (the order page's choices).
carrier_name      free text, where the marketplace takes one. Optional.
tracking_number   the parcel's tracking number; it or ``tracking_url`` is required.
tracking_url      the tracking link. Optional.
sku               a line of a partial shipment: its SKU (naming one line of the order) or the
                  marketplace's line id. Empty: what remains of the whole order.
quantity          how many of that line the parcel holds (empty: what remains of the line).
arg:NAME          a marketplace argument of the ship action (``arg:shipping_method``), as
                  ``flask orders ship --arg NAME=VALUE``. Optional.
================  =========================================================================

``carrier_name`` is also sent as the marketplace's ``carrier_name`` argument (Amazon wants it
with the carrier ``Other``; the marketplace rules drop it where it does not apply).

Several rows with the same order and tracking are one shipment with several lines. Each
shipment is recorded by :func:`webapp.orders.fulfilment.record_shipment` in its own
transaction, so a bad order never stops the others; each bad row gets a message naming its
row number and what is wrong (an unknown order - another store's order is unknown too -, a
missing tracking, a bad quantity, a row given twice, and whatever ``record_shipment``
refuses). Uploading the same file again records nothing new: a shipment is one per order
and tracking.

Run counts: ``total_processed`` rows read, ``imported_count`` shipments recorded,
``unchanged_count`` shipments already recorded before, ``error_count`` bad rows.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from webapp.extensions import db
from webapp.imports.reader import (
    SAMPLE_BYTES,
    DelimitedReader,
    FeedError,
    sniff_format,
    text_stream,
)
from webapp.imports.request import ImportRequestError, work_dir
from webapp.imports.uploads import discard, save_upload, upload_name
from webapp.models import Order, Run, Store
from webapp.models import runs as R
from webapp.orders.fulfilment import Refused, record_shipment
from webapp.runs import lifecycle
from webapp.runs.registry import OUT, flow

log = logging.getLogger("mercato.orders")

KIND = "bulk_shipping"
# A shipments file is small (a day's parcels); this bounds what one run holds in memory.
MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
LOOKUP_CHUNK = 500

# Column -> the header names it is known by (compared folded: lower case, letters and
# digits only), in the order of the template.
COLUMNS: dict[str, tuple[str, ...]] = {
    "order": (
        "order",
        "orderreference",
        "orderref",
        "orderid",
        "reference",
        "marketplaceorderid",
        "channelorderid",
    ),
    "carrier": ("carrier", "carriercode"),
    "carrier_name": ("carriername",),
    "tracking_number": ("trackingnumber", "tracking", "trackingno", "trackingcode"),
    "tracking_url": ("trackingurl", "trackinglink"),
    "sku": ("sku", "line", "lineid", "lineref", "linesku"),
    "quantity": ("quantity", "qty"),
}
TEMPLATE_ROWS = (
    ("order", "carrier", "carrier_name", "tracking_number", "tracking_url", "sku", "quantity"),
    ("ORDER-1001", "DHL", "", "00340434161094042557", "", "", ""),
    ("ORDER-1002", "UPS", "", "1Z999AA10123456784", "", "SKU-RED-M", "1"),
    ("ORDER-1002", "UPS", "", "1Z999AA10123456784", "", "SKU-BLUE-L", "2"),
    ("#42", "other", "Post Luxembourg", "", "https://track.example/LU123", "", ""),
)


def template_csv() -> str:
    """The downloadable template: the header and a few example rows."""
    return "".join(",".join(row) + "\r\n" for row in TEMPLATE_ROWS)


def _fold(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", (name or "").lower())


@dataclass
class Row:
    number: int  # the spreadsheet row (header = 1)
    order_ref: str
    carrier: str
    carrier_name: str
    tracking_number: str
    tracking_url: str
    sku: str
    quantity: int | None
    args: dict[str, str] = field(default_factory=dict)

    @property
    def tracking(self) -> str:
        return self.tracking_number or self.tracking_url


@dataclass(frozen=True)
class Named:
    """An order a row names: its id and channel only (the order itself, with its payload,
    is read when its shipment is recorded)."""

    id: int
    channel: str
    channel_order_id: str


@dataclass
class Shipment:
    order: Named
    rows: list[Row] = field(default_factory=list)


@dataclass
class Outcome:
    rows: int = 0
    recorded: int = 0
    already: int = 0
    bad_rows: int = 0
    orders: set[int] = field(default_factory=set)


class _Bad(Exception):
    """One row's problem (the message names the row)."""


# -- starting ---------------------------------------------------------------------------------


def create_run(
    store: Store,
    source_path: str,
    source_name: str | None = None,
    *,
    trigger: str = "ui",
    user_id: int | None = None,
) -> Run:
    """The pending run of a shipments file (the lifecycle creates it)."""
    return lifecycle.create(
        kind=KIND,
        store_id=store.id,
        trigger=trigger,
        user_id=user_id,
        source_path=str(source_path),
        source_name=source_name or Path(source_path).name,
    ).run


class AlreadyRunning(ImportRequestError):
    """A file of the same name is still pending or processing for the store (a double click,
    a retried script): nothing was created; ``run`` is the one in flight. (Were both to run,
    nothing would be recorded twice: a shipment is one per order and tracking.)"""

    def __init__(self, run: Run) -> None:
        self.run = run
        super().__init__(
            f"Bulk shipping #{run.id} of the same file is still {run.status}; wait for it "
            "to finish."
        )


def active_duplicate(store: Store, name: str) -> Run | None:
    return db.session.scalar(
        select(Run)
        .where(
            Run.store_id == store.id,
            Run.kind == KIND,
            Run.status.in_(R.ACTIVE_STATUSES),
            Run.source_name == name,
        )
        .order_by(Run.id)
        .limit(1)
    )


def start(store: Store, upload, *, user_id: int | None = None, trigger: str = "ui") -> Run:
    """Save an uploaded shipments file and enqueue its run; a refused upload (none, empty,
    too large, the same file still running) raises :class:`ImportRequestError` and leaves
    nothing behind."""
    if upload is None or not getattr(upload, "filename", ""):
        raise ImportRequestError("Choose a CSV file of shipments to upload.")
    if (running := active_duplicate(store, upload_name(upload.filename))) is not None:
        raise AlreadyRunning(running)
    path, name = save_upload(upload)
    try:
        if os.path.getsize(path) > MAX_BYTES:
            raise ImportRequestError(
                f"The file is larger than the {MAX_BYTES // (1024 * 1024)} MB limit of a "
                "shipments file: split it."
            )
        run = create_run(store, path, name, trigger=trigger, user_id=user_id)
    except BaseException:
        db.session.rollback()
        discard(path)
        raise
    return lifecycle.enqueue(run)


def summary(run: Run) -> dict:
    """The JSON the CLI prints last and the API returns."""
    return {
        "job_id": run.id,
        "kind": run.kind,
        "status": run.status,
        "rows": run.total_processed,
        "shipments_recorded": run.imported_count,
        "already_recorded": run.unchanged_count,
        "bad_rows": run.error_count,
        "error": run.error_message,
    }


# -- the flow -----------------------------------------------------------------------------------


@flow(KIND, label="Ship orders from a CSV file", owner=None, direction=OUT)
def ship_from_file(run: Run) -> dict:
    """Read the run's file, record each shipment in its own transaction, note each bad row."""
    path = Path(run.source_path or "")
    try:
        outcome = _execute(run, path)
    except FeedError as exc:  # the file as a whole: the run says why (as a product import)
        db.session.rollback()
        run = db.session.get(Run, run.id)
        lifecycle.finish(run, R.FAILED, str(exc))
        return summary(run)
    finally:
        if run.source_path and _owned_upload(path):
            path.unlink(missing_ok=True)
    run = db.session.get(Run, run.id)
    _count(run, outcome)
    status = R.COMPLETED_WITH_ERRORS if outcome.bad_rows else R.COMPLETED
    lifecycle.finish(run, status)
    return summary(run)


def _owned_upload(path: Path) -> bool:
    try:
        path.resolve().relative_to((work_dir() / "uploads").resolve())
        return True
    except ValueError:
        return False


def _count(run: Run, outcome: Outcome) -> None:
    run.total_processed = outcome.rows
    run.imported_count = outcome.recorded
    run.unchanged_count = outcome.already
    run.error_count = outcome.bad_rows
    db.session.commit()


def _execute(run: Run, path: Path) -> Outcome:
    if not path.is_file():
        raise FeedError("The shipments file is no longer there: upload it again.")
    outcome = Outcome()
    store_id, by = run.store_id, _who(run)
    rows = _read(run, path, outcome)
    shipments = _group(run, store_id, rows, outcome)
    run_id = run.id
    for index, shipment in enumerate(shipments):
        _record(run_id, shipment, by, outcome)
        if index % 20 == 0:
            run = db.session.get(Run, run_id)
            _count(run, outcome)
    return outcome


WHO_MAX = 64  # order_status_history.changed_by


def _who(run: Run) -> str:
    """Who recorded the shipments, as the order's history shows it: the person (or the
    trigger) and the run, within the history's 64 characters."""
    suffix = f" (CSV #{run.id})"
    who = run.user.email if run.user is not None else run.trigger
    return who[: WHO_MAX - len(suffix)] + suffix


def _bad(run: Run, outcome: Outcome, row_number: int, problem: str, data=None) -> None:
    outcome.bad_rows += 1
    lifecycle.note(
        run,
        R.ERROR,
        "bad_row",
        f"Row {row_number}: {problem}",
        row_number=row_number,
        row_data=data,
    )


def _read(run: Run, path: Path, outcome: Outcome) -> list[Row]:
    """The file's rows; an unreadable row is noted, the others are returned."""
    with path.open("rb") as binary:
        sample = binary.read(SAMPLE_BYTES)
        if sniff_format(sample) != "delimited":
            raise FeedError("The file is not a CSV file: upload the shipments as CSV.")
        binary.seek(0)
        reader = DelimitedReader(text_stream(binary, sample))
        header = reader.start()
        columns = _columns(header)
        rows: list[Row] = []
        for record in reader:
            if record.cells is not None and not any(c.strip() for c in record.cells):
                continue  # a blank line
            outcome.rows += 1
            if outcome.rows > MAX_ROWS:
                raise FeedError(
                    f"The file has more than {MAX_ROWS:,} rows: split it into smaller files."
                )
            if record.cells is None:
                _bad(run, outcome, record.row_number, f"unreadable ({record.error}).")
                continue
            values = {
                name: (record.cells[i].strip() if i < len(record.cells) else "")
                for name, i in columns.items()
            }
            try:
                rows.append(_row(record.row_number, values))
            except _Bad as exc:
                _bad(run, outcome, record.row_number, str(exc), values)
    return rows


ARG_PREFIX = re.compile(r"^\s*arg\s*[:_]\s*", re.IGNORECASE)


def _columns(header: list[str]) -> dict[str, int]:
    """Column name -> its index in the file (``arg:NAME`` columns as ``arg:NAME``);
    FeedError when a required one is missing."""
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        if ARG_PREFIX.match(name):
            arg = ARG_PREFIX.sub("", name).strip()
            if arg:
                found.setdefault(f"arg:{arg}", index)
            continue
        folded = _fold(name)
        for column, names in COLUMNS.items():
            if folded in names and column not in found:
                found[column] = index
    if "order" not in found:
        raise FeedError(
            "The file has no order column: name one 'order' (the marketplace order id, or "
            f"#Mercato id). Its columns: {', '.join(header)[:500]}."
        )
    if "tracking_number" not in found and "tracking_url" not in found:
        raise FeedError(
            "The file has no tracking_number (or tracking_url) column. "
            f"Its columns: {', '.join(header)[:500]}."
        )
    return found


def _row(number: int, values: dict[str, str]) -> Row:
    get = values.get
    order_ref = get("order") or ""
    if not order_ref:
        raise _Bad("no order reference.")
    tracking_number = get("tracking_number") or ""
    tracking_url = get("tracking_url") or ""
    if not tracking_number and not tracking_url:
        raise _Bad(f"order {order_ref} has no tracking number or tracking URL.")
    sku = get("sku") or ""
    raw_quantity = get("quantity") or ""
    quantity = None
    if raw_quantity:
        try:
            quantity = int(raw_quantity)
        except ValueError:
            raise _Bad(
                f"quantity {raw_quantity!r} is not a whole number (order {order_ref})."
            ) from None
        if quantity < 1:
            raise _Bad(f"quantity must be at least 1, not {quantity} (order {order_ref}).")
        if not sku:
            raise _Bad(
                f"a quantity ({quantity}) needs the line's SKU or line id (order {order_ref})."
            )
    return Row(
        number=number,
        order_ref=order_ref,
        carrier=get("carrier") or "",
        carrier_name=get("carrier_name") or "",
        tracking_number=tracking_number,
        tracking_url=tracking_url,
        sku=sku,
        quantity=quantity,
        args={k[4:]: v for k, v in values.items() if k.startswith("arg:") and v},
    )


def _orders(store_id: int, rows: list[Row]) -> tuple[dict[str, list[Named]], dict[int, Named]]:
    """The store's orders the rows name: by marketplace order id, and by Mercato id."""
    by_channel_id: dict[str, list[Named]] = {}
    by_id: dict[int, Named] = {}
    refs = sorted({r.order_ref for r in rows if not r.order_ref.startswith("#")})
    ids = sorted({i for r in rows if (i := _mercato_id(r.order_ref)) is not None})
    columns = (Order.id, Order.channel, Order.channel_order_id)
    for start in range(0, len(refs), LOOKUP_CHUNK):
        chunk = refs[start : start + LOOKUP_CHUNK]
        found = db.session.execute(
            select(*columns)
            .where(Order.store_id == store_id, Order.channel_order_id.in_(chunk))
            .order_by(Order.id)
        )
        for order in found:
            by_channel_id.setdefault(order.channel_order_id, []).append(Named(*order))
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        found = db.session.execute(
            select(*columns).where(Order.store_id == store_id, Order.id.in_(chunk))
        )
        by_id.update({order.id: Named(*order) for order in found})
    return by_channel_id, by_id


def _mercato_id(ref: str) -> int | None:
    if not ref.startswith("#"):
        return None
    digits = ref[1:].strip()
    if not digits.isdigit() or len(digits) > 10 or int(digits) > 2**31 - 1:
        return -1  # never an order id: answered as unknown
    return int(digits)


def _group(run: Run, store_id: int, rows: list[Row], outcome: Outcome) -> list[Shipment]:
    """Rows -> shipments (one per order and tracking), in the file's order; the rows that
    cannot be part of one are noted."""
    by_channel_id, by_id = _orders(store_id, rows)
    shipments: dict[tuple[int, str], Shipment] = {}
    seen: dict[tuple[int, str, str], int] = {}
    for row in rows:
        try:
            order = _order_for(row.order_ref, by_channel_id, by_id)
            key = (order.id, row.tracking)
            line_key = (order.id, row.tracking, row.sku.lower())
            if line_key in seen:
                what = f"line {row.sku}" if row.sku else "the whole order"
                raise _Bad(
                    f"duplicate of row {seen[line_key]} ({what} of order {row.order_ref}, "
                    f"tracking {row.tracking}): ignored."
                )
            shipment = shipments.get(key)
            if shipment is not None:
                _same_parcel(shipment.rows[0], row)
            seen[line_key] = row.number
        except _Bad as exc:
            _bad(run, outcome, row.number, str(exc), _data(row))
            continue
        if shipment is None:
            shipment = shipments[key] = Shipment(order)
        shipment.rows.append(row)
    return list(shipments.values())


def _order_for(ref: str, by_channel_id, by_id) -> Named:
    mercato_id = _mercato_id(ref)
    if mercato_id is not None:
        order = by_id.get(mercato_id)
        if order is None:
            raise _Bad(f"no order {ref} in this store (a Mercato id: #123).")
        return order
    found = by_channel_id.get(ref, [])
    if not found:
        raise _Bad(
            f"no order {ref} in this store (the marketplace order id as the orders list "
            "shows it, or #Mercato id)."
        )
    if len(found) > 1:
        which = ", ".join(f"#{o.id} ({o.channel})" for o in found)
        raise _Bad(f"order id {ref} names {len(found)} orders ({which}): give the #Mercato id.")
    return found[0]


PARCEL_FIELDS = ("carrier", "carrier_name", "tracking_url", "tracking_number")


def _same_parcel(first: Row, row: Row) -> None:
    """Rows of one shipment agree on the carrier and the tracking; a whole-order row is the
    whole shipment."""
    pairs = [(n, getattr(row, n), getattr(first, n)) for n in PARCEL_FIELDS]
    pairs += [(f"arg:{k}", v, first.args.get(k)) for k, v in row.args.items()]
    for name, mine, theirs in pairs:
        if mine and theirs and mine != theirs:
            raise _Bad(
                f"{name} {mine!r} differs from row {first.number}'s {theirs!r} for the same "
                f"parcel of order {row.order_ref}."
            )
    if not row.sku or not first.sku:
        raise _Bad(
            f"row {first.number} ships the same parcel of order {row.order_ref}; a row without "
            "a SKU ships the whole order, so every row of a parcel needs its SKU."
        )


def _data(row: Row) -> dict:
    return {
        "order": row.order_ref,
        "carrier": row.carrier,
        "carrier_name": row.carrier_name,
        "tracking_number": row.tracking_number,
        "tracking_url": row.tracking_url,
        "sku": row.sku,
        "quantity": row.quantity,
        **{f"arg:{k}": v for k, v in row.args.items()},
    }


def _record(run_id: int, shipment: Shipment, by: str, outcome: Outcome) -> None:
    """One shipment, in its own transaction; a refusal notes each of its rows."""
    rows = shipment.rows
    first = rows[0]

    def field_of(name: str) -> str | None:
        return next((getattr(r, name) for r in rows if getattr(r, name)), None)

    lines = None if not first.sku else [(r.sku, r.quantity) for r in rows]
    args = {k: v for r in reversed(rows) for k, v in r.args.items()}
    if field_of("carrier_name"):
        args.setdefault("carrier_name", field_of("carrier_name"))
    order = db.session.get(Order, shipment.order.id)
    try:
        recorded = record_shipment(
            order,
            field_of("carrier"),
            field_of("carrier_name"),
            field_of("tracking_number"),
            field_of("tracking_url"),
            lines,
            args,
            by=by,
        )
    except Refused as exc:
        db.session.rollback()
        problems = " ".join(exc.problems)
        for row in rows:
            _bad(
                _run(run_id), outcome, row.number, f"order {row.order_ref}: {problems}", _data(row)
            )
        return
    except Exception as exc:  # one order's failure never stops the others
        db.session.rollback()
        log.exception("bulk_shipping run_id=%s order_id=%s crashed", run_id, order.id)
        for row in rows:
            _bad(
                _run(run_id),
                outcome,
                row.number,
                f"order {row.order_ref} could not be recorded ({exc.__class__.__name__}); "
                "nothing was recorded for it. Upload the row again later.",
                _data(row),
            )
        return
    outcome.orders.add(order.id)
    if recorded.already:
        outcome.already += 1
    else:
        outcome.recorded += 1


def _run(run_id: int) -> Run:
    return db.session.get(Run, run_id)

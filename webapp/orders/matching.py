"""Order lines and the catalog: which product a line is for, and the SKUs nobody has yet.

A line is matched against the store's **catalog** (the products it imported, published or
not): first its SKU as a product id, then a GTIN (the line's own, or a SKU that is a valid
GTIN, as merchants who identify products by EAN send), compared in every length a GTIN can
be written in (8, 12, 13, 14 digits with leading zeros). A matched line keeps its catalog
product (``order_items.marketplace_product_id``) and, when the store published it, the
published product (``product_id``).

An unmatched line's SKU becomes **one** inbox entry per store and SKU, however many orders
and polls bring it (``uq_inbox_unknown_sku`` keeps two workers from opening it twice); the
entry's orders are read from the unmatched lines themselves. Nothing to retry by hand in
the normal course: an import that brings the product, or publishing it, matches the waiting
lines and closes the entry (:func:`rematch`, called by the import and publish paths).

Lookups stay index probes: ids go through the catalog's unique index
(store, marketplace, id) with the store's few marketplaces listed, so a million-product
catalog costs what a small one does. GTINs have no index (migration 0010 dropped it for the
imports' sake), so a GTIN lookup reads the store's catalog once per statement; it runs only
for lines whose SKU is not a product id, a batch at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from common.gtin import GTIN_LENGTHS, gtin_check_digit_ok
from webapp.extensions import db
from webapp.models import MarketplaceProduct, Message, Order, OrderItem, Product
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.pagination import distinct_values

log = logging.getLogger("mercato.orders")

UNKNOWN_SKU = "unknown_sku"
SKU_SUBJECT = "sku"
CHUNK = 500  # values per IN list

MP = MarketplaceProduct.__table__
PRODUCTS = Product.__table__
ITEMS = OrderItem.__table__
MESSAGES = Message.__table__


@dataclass(frozen=True)
class Match:
    marketplace_product_id: int
    product_id: int | None  # the published product, if any
    by: str  # "sku" or "gtin"


def unknown_sku_text(sku: str) -> str:
    """The entry's sentence: what is wrong and what to do (migration 0013 writes the same)."""
    if not sku:
        return (
            "Order lines without a SKU: the marketplace sent no product reference, so they "
            "cannot be matched to the catalog. Check these orders by hand, then resolve "
            "this entry."
        )
    return (
        f'SKU "{sku}" is not in the catalog (no product has it as its id or GTIN): its '
        "order lines wait unmatched. Import the product (the feed that has it): the lines "
        "are matched and this entry closes by itself. If the SKU is no product of yours "
        "(a fee, a gift wrap), resolve it."
    )


def gtin_forms(value: str | None) -> set[str]:
    """Every way the GTIN ``value`` may be written in a catalog (8/12/13/14 digits, leading
    zeros), or nothing when it is not a GTIN (wrong length, letters, bad check digit)."""
    raw = (value or "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) not in GTIN_LENGTHS:
        return set()
    if not gtin_check_digit_ok(raw):
        return set()
    full = raw.zfill(14)
    return {full[-n:] for n in GTIN_LENGTHS if not full[:-n].strip("0")}


def _chunks(values: list, size: int = CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _best(rows) -> dict:
    """key -> Match from (key, catalog id, published id) rows: a published product first,
    then the oldest catalog product (one id imported under two marketplaces)."""
    found: dict = {}
    for key, mp_id, product_id, by in rows:
        current = found.get(key)
        candidate = Match(mp_id, product_id, by)
        if current is None or (
            (candidate.product_id is not None, -candidate.marketplace_product_id)
            > (current.product_id is not None, -current.marketplace_product_id)
        ):
            found[key] = candidate
    return found


def _catalog(store_id: int):
    return (
        select(MP.c.id, PRODUCTS.c.id)
        .select_from(
            MP.outerjoin(
                PRODUCTS,
                and_(PRODUCTS.c.marketplace_product_id == MP.c.id, PRODUCTS.c.store_id == store_id),
            )
        )
        .where(MP.c.store_id == store_id)
    )


def by_ids(store_id: int, skus: Iterable[str]) -> dict[str, Match]:
    """Catalog products whose id is one of ``skus``."""
    wanted = sorted({s for s in skus if s})
    if not wanted:
        return {}
    marketplaces = distinct_values(MP.c.marketplace, MP.c.store_id == store_id)
    if not marketplaces:
        return {}
    rows = []
    for chunk in _chunks(wanted):
        query = _catalog(store_id).add_columns(MP.c.marketplace_product_id)
        query = query.where(
            MP.c.marketplace.in_(marketplaces), MP.c.marketplace_product_id.in_(chunk)
        )
        rows += [(key, mp_id, pid, "sku") for mp_id, pid, key in db.session.execute(query)]
    return _best(rows)


def by_gtins(store_id: int, gtins: Iterable[str]) -> dict[str, Match]:
    """Catalog products by GTIN: 14-digit form of each found GTIN -> its product."""
    forms = sorted({form for g in gtins for form in gtin_forms(g)})
    if not forms:
        return {}
    rows = []
    for chunk in _chunks(forms):
        query = _catalog(store_id).add_columns(MP.c.gtin).where(MP.c.gtin.in_(chunk))
        rows += [(g.zfill(14), mp_id, pid, "gtin") for mp_id, pid, g in db.session.execute(query)]
    return _best(rows)


def find(store_id: int, lines: Iterable[tuple[str | None, str | None]]) -> dict[tuple, Match]:
    """(sku, gtin) of order lines -> the catalog product each is for, when there is one."""
    keys = {(sku or None, gtin or None) for sku, gtin in lines}
    keys.discard((None, None))
    if not keys:
        return {}
    ids = by_ids(store_id, (sku for sku, _ in keys if sku))
    found = {key: ids[key[0]] for key in keys if key[0] in ids}
    rest = [key for key in keys if key not in found]
    if not rest:
        return found
    candidates = {key: [v for v in key if gtin_forms(v)] for key in rest}
    gtins = by_gtins(store_id, (v for values in candidates.values() for v in values))
    for key, values in candidates.items():
        for value in values:
            match = gtins.get(value.strip().zfill(14))
            if match is not None:
                found[key] = match
                break
    return found


# -- unknown SKUs in the inbox --------------------------------------------------------------


def _insert(rows: list[dict]):
    """Rows into the messages table, skipping a SKU that already has an open entry."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(MESSAGES)
        .on_conflict_do_nothing(
            index_elements=["store_id", "identifier"], index_where=text(R.UNKNOWN_SKU_OPEN)
        )
        .returning(MESSAGES.c.id, MESSAGES.c.identifier)
    )
    # Rows as parameters (one cached statement, batched by SQLAlchemy's insertmanyvalues),
    # not a VALUES clause compiled afresh for every page.
    return db.session.execute(stmt, rows).all()


def record_unknown(
    run_id: int, store_id: int, account_id: int | None, skus: Iterable[str]
) -> list[int]:
    """Open an inbox entry for each of ``skus`` the store has none open for yet (in the
    caller's transaction, after its lines are written); returns the new entries' ids.

    A product the catalog received since this poll matched its lines (an import that
    committed meanwhile) closes the new entry at once: the lines are matched here."""
    wanted = sorted({(s or "")[:255] for s in skus})
    if not wanted:
        return []
    now = utcnow()
    created = _insert(
        [
            {
                "import_job_id": run_id,
                "severity": R.ERROR,
                "error_type": UNKNOWN_SKU,
                "error_message": unknown_sku_text(sku),
                "identifier": sku,
                "subject_type": SKU_SUBJECT,
                "subject_id": None,
                "store_id": store_id,
                "account_id": account_id,
                "created_at": now,
                "attempts": 0,
            }
            for sku in wanted
        ]
    )
    if not created:
        return []
    closed = _rematch_entries(store_id, [(mid, sku) for mid, sku in created], f"run #{run_id}")
    return [mid for mid, _ in created if mid not in closed]


def _unmatched_lines(store_id: int, sku: str):
    """The store's unmatched lines of ``sku`` (ix_order_items_unmatched, then each order)."""
    in_store = exists().where(Order.id == OrderItem.order_id, Order.store_id == store_id)
    condition = OrderItem.sku == sku if sku else OrderItem.sku.is_(None)
    return and_(~OrderItem.matched, condition, in_store)


def _line_gtins(store_id: int, skus: list[str]) -> dict[str, set[str]]:
    """GTINs the marketplace gave on the unmatched lines of these SKUs."""
    found: dict[str, set[str]] = {}
    for chunk in _chunks([s for s in skus if s]):
        rows = db.session.execute(
            select(OrderItem.sku, OrderItem.gtin)
            .where(
                ~OrderItem.matched,
                OrderItem.sku.in_(chunk),
                OrderItem.gtin.is_not(None),
                exists().where(Order.id == OrderItem.order_id, Order.store_id == store_id),
            )
            .distinct()
        )
        for sku, gtin in rows:
            found.setdefault(sku, set()).add(gtin)
    return found


def _rematch_entries(store_id: int, entries: list[tuple[int, str]], by: str) -> set[int]:
    """Match the waiting lines of these (entry id, SKU) pairs the catalog now has; resolve
    those entries. Returns the ids of the entries resolved (the caller commits)."""
    if not distinct_values(MP.c.marketplace, MP.c.store_id == store_id):
        return set()  # an empty catalog matches nothing
    skus = [sku for _, sku in entries]
    gtins = _line_gtins(store_id, skus)
    keys = [(sku, None) for sku in skus if sku] + [
        (sku, g) for sku, values in gtins.items() for g in values
    ]
    found = find(store_id, keys)
    per_sku: dict[str, Match] = {}
    for (sku, _), match in sorted(found.items(), key=lambda kv: kv[0][1] or ""):
        per_sku.setdefault(sku, match)
    closed: set[int] = set()
    if not per_sku:
        return closed
    now = utcnow()
    for sku, match in per_sku.items():
        db.session.execute(
            update(OrderItem)
            .where(_unmatched_lines(store_id, sku))
            .values(
                marketplace_product_id=match.marketplace_product_id,
                product_id=match.product_id,
                matched=True,
            )
            .execution_options(synchronize_session=False)
        )
    ids = [mid for mid, sku in entries if sku in per_sku]
    for chunk in _chunks(ids):
        db.session.execute(
            update(Message)
            .where(Message.id.in_(chunk), Message.resolved_at.is_(None))
            .values(resolved_at=now, resolved_by=by[:255], next_retry_at=None)
            .execution_options(synchronize_session=False)
        )
    closed.update(ids)
    return closed


def open_entries(store_id: int, skus: Iterable[str] | None = None) -> list[tuple[int, str]]:
    """The store's open unknown-SKU entries (id, SKU), optionally only these SKUs."""
    query = select(Message.id, Message.identifier).where(
        Message.store_id == store_id,
        Message.error_type == UNKNOWN_SKU,
        Message.subject_type == SKU_SUBJECT,
        Message.resolved_at.is_(None),
    )
    if skus is None:
        return [(mid, sku or "") for mid, sku in db.session.execute(query.order_by(Message.id))]
    found = []
    for chunk in _chunks(sorted(set(skus))):
        found += [
            (mid, sku or "")
            for mid, sku in db.session.execute(query.where(Message.identifier.in_(chunk)))
        ]
    return found


def rematch(store_id: int, skus: Iterable[str] | None = None, *, by: str) -> dict[str, int]:
    """The catalog changed (an import, a publication, a person's retry): match the lines
    that wait for it and close their entries. Commits a batch of entries at a time."""
    entries = open_entries(store_id, skus)
    closed = 0
    for chunk in _chunks(entries):
        closed += len(_rematch_entries(store_id, chunk, by))
        db.session.commit()
    return {"open": len(entries), "resolved": closed}


def after_import(run) -> None:
    """A product import finished: lines waiting for the products it brought are matched.
    Never fails the import (it is done): a problem is logged, a person's Retry redoes it."""
    if run.status not in (R.COMPLETED, R.COMPLETED_WITH_ERRORS):
        return
    if not (run.imported_count or run.updated_count or run.unchanged_count):
        return
    try:
        summary = rematch(run.store_id, by=f"import #{run.id}")
    except Exception:  # noqa: BLE001 - the import stands; the entries stay open
        db.session.rollback()
        log.exception("job=rematch_skus run_id=%s state=failed", run.id)
        return
    if summary["open"]:
        log.info(
            "job=rematch_skus run_id=%s store_id=%s open=%s resolved=%s",
            run.id,
            run.store_id,
            summary["open"],
            summary["resolved"],
        )


def after_publish(store_id: int, marketplace_product_ids: Iterable[int]) -> None:
    """Products were published: lines matched to them point at the published product, and
    an entry still open for one of them (say, the import's rematch failed) closes."""
    ids = sorted(set(marketplace_product_ids))
    if not ids:
        return
    published = (
        select(Product.id)
        .where(
            Product.marketplace_product_id == OrderItem.marketplace_product_id,
            Product.store_id == store_id,
        )
        .scalar_subquery()
    )
    identifiers: set[str] = set()
    for chunk in _chunks(ids):
        db.session.execute(
            update(OrderItem)
            .where(OrderItem.marketplace_product_id.in_(chunk), OrderItem.product_id.is_(None))
            .values(product_id=published)
            .execution_options(synchronize_session=False)
        )
        for pid, gtin in db.session.execute(
            select(MarketplaceProduct.marketplace_product_id, MarketplaceProduct.gtin).where(
                MarketplaceProduct.id.in_(chunk), MarketplaceProduct.store_id == store_id
            )
        ):
            identifiers.add(pid)
            identifiers.update(gtin_forms(gtin))
    db.session.commit()
    rematch(store_id, identifiers, by="published")


def affected_orders(store_id: int, skus: list[str], sample: int = 3) -> dict[str, dict]:
    """Per SKU: how many orders of the store wait with an unmatched line of it, and the
    newest ``sample`` of them (id, channel order id) for links: one statement for a page's
    SKUs (each SKU's waiting lines on ix_order_items_unmatched, ranked in the database)."""
    wanted = sorted(set(skus))
    result = {sku: {"count": 0, "orders": []} for sku in wanted}
    named = [s for s in wanted if s]
    conditions = []
    if named:
        conditions.append(OrderItem.sku.in_(named))
    if "" in result:
        conditions.append(OrderItem.sku.is_(None))
    if not conditions:
        return result
    pairs = (
        select(OrderItem.sku.label("sku"), OrderItem.order_id.label("order_id"))
        .join(Order, Order.id == OrderItem.order_id)
        .where(~OrderItem.matched, or_(*conditions), Order.store_id == store_id)
        .group_by(OrderItem.sku, OrderItem.order_id)
        .subquery()
    )
    ranked = select(
        pairs.c.sku,
        pairs.c.order_id,
        func.row_number()
        .over(partition_by=pairs.c.sku, order_by=pairs.c.order_id.desc())
        .label("rank"),
        func.count().over(partition_by=pairs.c.sku).label("orders"),
    ).subquery()
    rows = db.session.execute(
        select(ranked.c.sku, ranked.c.orders, Order.id, Order.channel_order_id)
        .join(Order, Order.id == ranked.c.order_id)
        .where(ranked.c.rank <= sample)
        .order_by(ranked.c.sku, ranked.c.rank)
    )
    for sku, orders, order_id, number in rows:
        entry = result[sku or ""]
        entry["count"] = orders
        entry["orders"].append((order_id, number))
    return result

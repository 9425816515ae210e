"""Stock levels and the movements that change them.

Two ways a level moves, both writing a movement for every change:

- :func:`apply` inserts movements (deltas) and moves the levels by what was inserted: a
  movement that clashes with one of the idempotency indexes (an order event seen again) is
  skipped by ``ON CONFLICT DO NOTHING`` and moves nothing.
- :func:`set_on_hand` sets absolute quantities (a feed, a stock file, a person): the rows
  present are locked, the difference to each is the movement, unchanged ones cost nothing.

Levels are upserted in (SKU, warehouse) order, so two transactions lock them in the same
order and never deadlock on each other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db
from webapp.models import StockLevel, StockMovement, StoreStockSettings, Warehouse
from webapp.models.base import utcnow
from webapp.models.stock import DEFAULT_WAREHOUSE
from webapp.stock import dirty

LEVELS = StockLevel.__table__
MOVEMENTS = StockMovement.__table__
WAREHOUSES = Warehouse.__table__
MOVEMENT_COLUMNS = (
    "store_id",
    "sku",
    "warehouse_id",
    "reason",
    "on_hand_delta",
    "reserved_delta",
    "order_item_id",
    "fulfilment_event_id",
    "order_action_id",
    "run_id",
    "user_id",
    "actor",
    "note",
    "created_at",
)


def _insert(table):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def default_warehouse_id(store_id: int) -> int:
    """The store's default warehouse, created with its first stock (race-safe)."""
    found = db.session.scalar(
        select(WAREHOUSES.c.id).where(WAREHOUSES.c.store_id == store_id, WAREHOUSES.c.is_default)
    )
    if found is not None:
        return found
    now = utcnow()
    db.session.execute(
        _insert(WAREHOUSES)
        .values(
            store_id=store_id,
            code=DEFAULT_WAREHOUSE,
            name="Default warehouse",
            is_default=True,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    return db.session.scalar(
        select(WAREHOUSES.c.id).where(WAREHOUSES.c.store_id == store_id, WAREHOUSES.c.is_default)
    )


def warehouse_id(store_id: int, code: str | None, *, create: bool = False) -> int | None:
    """A warehouse of the store by code (None or "": the default); ``create`` adds it."""
    if not code or code == DEFAULT_WAREHOUSE:
        return default_warehouse_id(store_id)
    found = db.session.scalar(
        select(WAREHOUSES.c.id).where(WAREHOUSES.c.store_id == store_id, WAREHOUSES.c.code == code)
    )
    if found is not None or not create:
        return found
    default_warehouse_id(store_id)  # the store's first warehouse is always its default
    now = utcnow()
    db.session.execute(
        _insert(WAREHOUSES)
        .values(
            store_id=store_id,
            code=code,
            name=code,
            is_default=False,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    return db.session.scalar(
        select(WAREHOUSES.c.id).where(WAREHOUSES.c.store_id == store_id, WAREHOUSES.c.code == code)
    )


def store_settings(store_id: int) -> StoreStockSettings:
    """The store's stock settings (defaults when it never set them; not added)."""
    found = db.session.get(StoreStockSettings, store_id)
    return found or StoreStockSettings(
        store_id=store_id, feed_is_stock_source=False, restock_on_refund=False
    )


def _movement(row: dict, now) -> dict:
    return {**dict.fromkeys(MOVEMENT_COLUMNS), "created_at": now, **row}


def move_levels(store_id: int, deltas: dict[tuple[str, int], tuple[int, int]], now=None) -> None:
    """Add (on_hand, reserved) deltas to the levels of (sku, warehouse), creating them; the
    SKUs moved are marked for the store's real-time accounts (:mod:`webapp.stock.dirty`)."""
    now = now or utcnow()
    rows = [
        {
            "store_id": store_id,
            "sku": sku,
            "warehouse_id": wh,
            "on_hand": d_on_hand,
            "reserved": d_reserved,
            "updated_at": now,
        }
        for (sku, wh), (d_on_hand, d_reserved) in sorted(deltas.items())
        if d_on_hand or d_reserved
    ]
    if not rows:
        return
    stmt = _insert(LEVELS)
    stmt = stmt.on_conflict_do_update(
        index_elements=["store_id", "sku", "warehouse_id"],
        set_={
            "on_hand": LEVELS.c.on_hand + stmt.excluded.on_hand,
            "reserved": LEVELS.c.reserved + stmt.excluded.reserved,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    db.session.execute(stmt, rows)
    dirty.mark(store_id, (row["sku"] for row in rows), now)


def ensure_levels(store_id: int, keys: list[tuple[str, int]], now=None) -> None:
    """Levels (0, 0) for these (sku, warehouse) where there are none (a SKU new to the stock:
    marked for the real-time accounts too, so one acknowledged before is told 0)."""
    if not keys:
        return
    now = now or utcnow()
    db.session.execute(
        _insert(LEVELS).on_conflict_do_nothing(),
        [
            {
                "store_id": store_id,
                "sku": sku,
                "warehouse_id": wh,
                "on_hand": 0,
                "reserved": 0,
                "updated_at": now,
            }
            for sku, wh in sorted(keys)
        ],
    )
    dirty.mark(store_id, (sku for sku, _ in keys), now)


def apply(store_id: int, movements: list[dict]) -> list[dict]:
    """Insert the movements (each skipped if it clashes with an idempotency index) and move
    the levels by those inserted; returns the inserted ones (sku, warehouse, deltas)."""
    if not movements:
        return []
    now = utcnow()
    rows = [_movement(m, now) for m in movements]
    stmt = (
        _insert(MOVEMENTS)
        .on_conflict_do_nothing()
        .returning(
            MOVEMENTS.c.sku,
            MOVEMENTS.c.warehouse_id,
            MOVEMENTS.c.on_hand_delta,
            MOVEMENTS.c.reserved_delta,
        )
    )
    inserted = db.session.execute(stmt, rows).all()
    deltas: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for sku, wh, d_on_hand, d_reserved in inserted:
        deltas[(sku, wh)][0] += d_on_hand
        deltas[(sku, wh)][1] += d_reserved
    move_levels(store_id, {k: (v[0], v[1]) for k, v in deltas.items()}, now)
    return [
        {"sku": r[0], "warehouse_id": r[1], "on_hand_delta": r[2], "reserved_delta": r[3]}
        for r in inserted
    ]


def set_on_hand(
    store_id: int,
    quantities: Iterable[tuple[str, int, int]],
    *,
    reason: str,
    run_id: int | None = None,
    user_id: int | None = None,
    actor: str | None = None,
    note: str | None = None,
) -> int:
    """Set on hand of (sku, warehouse_id, quantity) rows; one movement per changed level.
    Returns how many levels changed. The caller commits."""
    wanted: dict[tuple[str, int], int] = {}
    for sku, wh, quantity in quantities:
        wanted[(sku, wh)] = int(quantity)  # the last row of a SKU wins
    if not wanted:
        return 0
    keys = sorted(wanted)
    current: dict[tuple[str, int], int] = {}
    postgresql_ = db.session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(keys), 5000):
        chunk = keys[start : start + 5000]
        query = (
            select(LEVELS.c.sku, LEVELS.c.warehouse_id, LEVELS.c.on_hand)
            .where(
                LEVELS.c.store_id == store_id,
                tuple_(LEVELS.c.sku, LEVELS.c.warehouse_id).in_(chunk),
            )
            .order_by(LEVELS.c.sku, LEVELS.c.warehouse_id)
        )
        if postgresql_:
            query = query.with_for_update()
        for sku, wh, on_hand in db.session.execute(query):
            current[(sku, wh)] = on_hand
    now = utcnow()
    deltas, movements = {}, []
    for key in keys:
        delta = wanted[key] - current.get(key, 0)
        if delta == 0 and key in current:
            continue
        deltas[key] = (delta, 0)
        movements.append(
            _movement(
                {
                    "store_id": store_id,
                    "sku": key[0],
                    "warehouse_id": key[1],
                    "reason": reason,
                    "on_hand_delta": delta,
                    "reserved_delta": 0,
                    "run_id": run_id,
                    "user_id": user_id,
                    "actor": actor,
                    "note": note,
                },
                now,
            )
        )
    if movements:
        db.session.execute(MOVEMENTS.insert(), movements)
        move_levels(store_id, deltas, now)
        # A new level with quantity 0 still exists: the SKU is known to the stock.
        ensure_levels(store_id, [k for k in keys if k not in current and wanted[k] == 0], now)
    return len(movements)

"""What a marketplace last acknowledged of each SKU, per account: the base of a push's delta.

A stock or price push sends only what differs from the value the marketplace last took
(``push_states``), and that value moves only when an outbound call carrying it succeeded
(:func:`acknowledge`, run by the one sender). A dry run (test mode) or a failed call leaves it
where it was, so the next push sends the SKU again.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.dialects import sqlite

from webapp.extensions import db

__all__ = ["PUSH_ACTIONS", "PushDirty", "PushState", "acknowledge"]

# The outbound actions whose success updates push_states (connectors.shoppingfeed's names).
STOCK_ACTION = "stock.inventory"
PRICE_ACTION = "price.pricing"
PUSH_ACTIONS = (STOCK_ACTION, PRICE_ACTION)


class PushState(db.Model):
    __tablename__ = "push_states"

    account_id = db.Column(
        db.Integer, db.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    sku = db.Column(db.String(255), primary_key=True)
    quantity = db.Column(db.Integer)  # last acknowledged stock level (None: never sent)
    stock_acked_at = db.Column(db.DateTime)
    price = db.Column(db.Numeric(14, 4))  # last acknowledged price, sale price, currency
    sale_price = db.Column(db.Numeric(14, 4))
    currency = db.Column(db.String(3))
    price_acked_at = db.Column(db.DateTime)


class PushDirty(db.Model):
    """A SKU whose available quantity changed since a real-time account was last told
    (``webapp.stock.dirty`` marks it with the movement; ``webapp.pushes.realtime`` sends and
    clears it). ``since``: its first change not pushed yet; ``touches``: how many changes
    it coalesces (each mark adds one: a push removes a row only if no change came after it
    read it)."""

    __tablename__ = "push_dirty"

    account_id = db.Column(
        db.Integer, db.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    sku = db.Column(db.String(255), primary_key=True)
    since = db.Column(db.DateTime, nullable=False)
    touches = db.Column(db.Integer, nullable=False, default=1)


def _money(value):
    return None if value is None or value == "" else Decimal(str(value))


def acknowledge(account_id: int, action: str, items: list[dict], now) -> None:
    """The marketplace took ``items`` (an outbound call's ``params["items"]``): they become
    the account's acknowledged values (in the caller's transaction)."""
    if not items:
        return
    table = PushState.__table__
    if action == STOCK_ACTION:
        rows = [
            {
                "account_id": account_id,
                "sku": str(i["reference"]),
                "quantity": int(i["quantity"]),
                "stock_acked_at": now,
            }
            for i in items
        ]
        fields = ("quantity", "stock_acked_at")
    elif action == PRICE_ACTION:
        rows = [
            {
                "account_id": account_id,
                "sku": str(i["reference"]),
                "price": _money(i.get("price")),
                "sale_price": _money(i.get("sale_price")),
                "currency": i.get("currency"),
                "price_acked_at": now,
            }
            for i in items
        ]
        fields = ("price", "sale_price", "currency", "price_acked_at")
    else:
        return
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        _acknowledge_pg(rows, fields)
        return
    insert = sqlite.insert
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id", "sku"],
        set_={name: getattr(stmt.excluded, name) for name in fields},
    )
    # One statement, the rows as parameters: compiled once and cached, not per batch.
    db.session.execute(stmt, rows)


# PostgreSQL: one statement, one round trip per batch, the columns as arrays (a push acknowledges
# a hundred SKUs a call, a hundred calls a push).
_PG_TYPES = {
    "account_id": "integer",
    "sku": "varchar",
    "quantity": "integer",
    "stock_acked_at": "timestamp",
    "price": "numeric",
    "sale_price": "numeric",
    "currency": "varchar",
    "price_acked_at": "timestamp",
}


def _acknowledge_pg(rows: list[dict], fields: tuple[str, ...]) -> None:
    columns = ("account_id", "sku", *fields)
    arrays = ", ".join(f"CAST(:{c} AS {_PG_TYPES[c]}[])" for c in columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in fields)
    sql = (
        f"INSERT INTO push_states ({', '.join(columns)}) "  # noqa: S608 - fixed column names
        f"SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT (account_id, sku) DO UPDATE SET {updates}"
    )
    db.session.execute(text(sql), {c: [row[c] for row in rows] for c in columns})

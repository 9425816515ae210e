"""Read side of the order book: the orders page, one order, the bell.

Every query is scoped by store first.  The list is newest order first (``ordered_at``,
then ``id``) and pages id-first (:func:`webapp.pagination.paginate` with ``key``), so
a deep page skips on ``ix_orders_store_ordered`` before reading any row; the bell counts
the orders that arrived after a moment on ``ix_orders_store_created``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, func, literal_column, select, union_all
from sqlalchemy.orm import aliased, joinedload, selectinload

from webapp.extensions import db
from webapp.ids import NO_ROW, id_arg
from webapp.models import Account, Order, OrderItem, Product
from webapp.models import orders as O
from webapp.models.orders import ORDER_STATUSES
from webapp.pagination import Page, distinct_values, paginate

BELL_CAP = 99  # the bell says "99+" beyond this: counting further is work nobody reads
# "To ship": an order in one of these statuses with something left to ship on a line
# (quantity - shipped - cancelled > 0). Not the others: pending (parked, not paid or not
# authorised yet), awaiting acceptance (accept it first), shipped, delivered, fulfilled,
# cancelled, refunded (nothing to ship). A partially refunded order may still have lines
# to send.
TO_SHIP_STATUSES = (O.CONFIRMED, O.PROCESSING, O.READY_FOR_SHIPMENT, O.PARTIALLY_REFUNDED)


@dataclass
class OrderFilters:
    q: str = ""
    channel: str = ""
    account_id: int | None = None
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    to_ship: bool = False

    @classmethod
    def from_args(cls, args) -> OrderFilters:
        account = (args.get("account") or "").strip()
        status = (args.get("status") or "").strip()
        return cls(
            q=(args.get("q") or "").strip()[:255],
            channel=(args.get("channel") or "").strip()[:64],
            account_id=id_arg(account),
            status=status if status in ORDER_STATUSES else "",
            date_from=_date(args.get("from")),
            date_to=_date(args.get("to")),
            to_ship=(args.get("to_ship") or "").strip().lower() in ("1", "on", "true", "yes"),
        )

    def params(self) -> dict[str, str]:
        """The filters as query-string parameters (only those set), for links."""
        values = {
            "q": self.q,
            "channel": self.channel,
            "account": str(self.account_id) if self.account_id else "",
            "status": self.status,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "to_ship": "1" if self.to_ship else "",
        }
        return {k: v for k, v in values.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.params())


def _date(value) -> date | None:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def orders_query(store_id: int | None, filters: OrderFilters) -> tuple[Select, Select]:
    """The store's orders under the filters (every store's when ``store_id`` is None: an
    admin over the API), newest first, and their count."""
    conditions = [] if store_id is None else [Order.store_id == store_id]
    if filters.channel:
        conditions.append(Order.channel == filters.channel)
    if filters.account_id:
        conditions.append(Order.account_id == filters.account_id)
    if filters.status:
        conditions.append(Order.status == filters.status)
    if filters.date_from:
        conditions.append(Order.ordered_at >= datetime.combine(filters.date_from, time.min))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time.min)
        conditions.append(Order.ordered_at < end)
    if filters.q:
        conditions.append(_search(store_id, filters.q))
    if filters.to_ship:
        conditions.append(to_ship_condition())
    query = select(Order).where(*conditions).order_by(Order.ordered_at.desc(), Order.id.desc())
    count = select(func.count()).select_from(Order).where(*conditions)
    return query, count


def to_ship_condition(order=Order):
    """The order is in a status where shipping makes sense and a line has something left to
    ship. Answered per order by ``ix_orders_store_status`` then a probe of its lines
    (``order_items.order_id``): no scan of the lines of every order."""
    left = OrderItem.quantity - OrderItem.shipped_quantity - OrderItem.cancelled_quantity
    return order.status.in_(TO_SHIP_STATUSES) & (
        select(OrderItem.id).where(OrderItem.order_id == order.id, left > 0).exists()
    )


def search_text(order=Order):
    """The text a search looks into: channel order id, customer name and email, lower-cased.
    On PostgreSQL a trigram index holds exactly this expression (migration 0007), so a
    "contains" search reads only the orders that match; keep the two identical."""
    blank, space = literal_column("''"), literal_column("' '")
    return func.lower(
        func.coalesce(order.channel_order_id, blank)
        + space
        + func.coalesce(order.customer_name, blank)
        + space
        + func.coalesce(order.customer_email, blank)
    )


def _search(store_id: int | None, term: str):
    """Channel order id, customer name or email containing the term, a line's SKU equal to
    it (SKUs are codes; the SKU index answers), or our own order id ("#123"). Each part is
    answered by an index and the parts are united, so no part forces a scan of the store."""
    inner = aliased(Order)
    parts = [
        select(inner.id).where(
            *([] if store_id is None else [inner.store_id == store_id]),
            search_text(inner).like(f"%{term.lower()}%"),
        ),
        select(OrderItem.order_id).where(OrderItem.sku == term),
    ]
    order_id = id_arg(term.lstrip("#"))
    if order_id is not None and order_id != NO_ROW:  # beyond the id range: no order id
        parts.append(select(inner.id).where(inner.id == order_id))
    return Order.id.in_(union_all(*parts))


def orders_page(store_id: int | None, filters: OrderFilters, page: int, per_page: int) -> Page:
    query, count = orders_query(store_id, filters)
    return paginate(query, count, page, per_page, key=Order.id)


def channels(store_id: int) -> list[str]:
    """The channels the store has orders from: per account of the store, one probe of the
    (account, channel, channel order id) unique index per channel."""
    account_ids = db.session.scalars(select(Account.id).where(Account.store_id == store_id))
    found: set[str] = set()
    for account_id in account_ids.all():
        found.update(distinct_values(Order.channel, Order.account_id == account_id))
    return sorted(found)


def store_accounts(store_id: int, *, include_retired: bool = False) -> list[Account]:
    """The store's accounts by name; retired ones only when asked (they are hidden from
    navigation and filters, listed under "Retired" on the accounts page)."""
    query = select(Account).where(Account.store_id == store_id)
    if not include_retired:
        query = query.where(Account.retired_at.is_(None))
    return list(db.session.scalars(query.order_by(Account.name, Account.id)))


def order_detail(store_id: int, order_id: int) -> Order | None:
    return db.session.scalar(
        select(Order)
        .where(Order.id == order_id, Order.store_id == store_id)
        .options(
            selectinload(Order.items),
            selectinload(Order.status_history),
        )
    )


def matched_products(order: Order) -> dict[int, Product]:
    ids = {item.product_id for item in order.items if item.product_id}
    if not ids:
        return {}
    return {
        p.id: p
        for p in db.session.scalars(
            select(Product)
            .where(Product.id.in_(ids), Product.store_id == order.store_id)
            .options(joinedload(Product.marketplace_product))
        )
    }


def new_orders_count(store_id: int, since: datetime | None) -> int:
    """Orders of the store that arrived after ``since`` (all of them when None), capped at
    ``BELL_CAP + 1`` so the answer costs at most that many index entries."""
    conditions = [Order.store_id == store_id]
    if since is not None:
        conditions.append(Order.created_at > since)
    capped = select(Order.id).where(*conditions).limit(BELL_CAP + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(capped)) or 0

"""Reservations follow order events once each: booking, re-polls, status moves, shipments,
cancellations and refunds, against orders imported from the sandbox over real HTTP."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from connectors.orders import BOOK, OrderLine, UnifiedOrder
from tests.orders.test_acks_and_modes import fresh, lengow
from tests.orders.test_fulfilment import ready
from tests.stock.helpers import level, levels_match_movements, movements, open_reservations
from webapp.extensions import db
from webapp.models import Order, StockMovement, StoreStockSettings
from webapp.orders.book import apply_page
from webapp.orders.fulfilment import record_action, record_shipment
from webapp.orders.service import import_orders
from webapp.stock.levels import default_warehouse_id, set_on_hand


def unified(order_id: str, status: str, lines, mp_status: str = "waiting_shipment"):
    return UnifiedOrder(
        channel="amazon_fr",
        channel_order_id=order_id,
        marketplace_status=mp_status,
        status=status,
        disposition=BOOK,
        lines=[
            OrderLine(
                channel_line_id=f"{order_id}-{n}",
                sku=sku,
                title=sku,
                quantity=qty,
                unit_price=Decimal("1"),
                total=Decimal(qty),
            )
            for n, (sku, qty) in enumerate(lines)
        ],
    )


def reserved_items(store_id: int) -> list[int]:
    return list(
        db.session.scalars(
            select(StockMovement.order_item_id).where(
                StockMovement.store_id == store_id, StockMovement.reason == "order_reserved"
            )
        )
    )


def test_booking_reserves_each_line_once_and_status_moves_ship_or_release(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    wh = default_warehouse_id(store.id)
    set_on_hand(store.id, [("SKU-A", wh, 10), ("SKU-B", wh, 5)], reason="manual", actor="t")
    db.session.commit()
    page = [
        unified("O1", "confirmed", [("SKU-A", 2), ("SKU-B", 1)]),
        unified("O2", "confirmed", [("SKU-A", 3)]),
        unified("O3", "shipped", [("SKU-A", 4)], "shipped"),  # first seen shipped: nothing
    ]
    apply_page(account, page, changed_by="test")
    db.session.commit()
    assert level(store.id, "SKU-A") == (10, 5) and level(store.id, "SKU-B") == (5, 1)
    # A re-poll of the same page and the same orders flapping: nothing reserved twice.
    apply_page(account, page, changed_by="test")
    apply_page(account, [unified("O2", "cancelled", [("SKU-A", 3)], "canceled")], changed_by="t")
    apply_page(account, [unified("O2", "confirmed", [("SKU-A", 3)])], changed_by="t")
    apply_page(account, [unified("O2", "cancelled", [("SKU-A", 3)], "canceled")], changed_by="t")
    db.session.commit()
    assert level(store.id, "SKU-A") == (10, 2)  # O2 released once, never reserved again
    assert len(reserved_items(store.id)) == len(set(reserved_items(store.id))) == 3
    # Shipped on the marketplace: what O1 still holds leaves the shelf and the reservation.
    apply_page(
        account,
        [unified("O1", "shipped", [("SKU-A", 2), ("SKU-B", 1)], "shipped")],
        changed_by="t",
    )
    db.session.commit()
    assert level(store.id, "SKU-A") == (8, 0) and level(store.id, "SKU-B") == (4, 0)
    reasons = sorted(m.reason for m in movements(store.id) if m.order_item_id)
    assert reasons == ["order_cancelled"] + ["order_reserved"] * 3 + ["order_shipped"] * 2
    # The same line then shipped in Mercato too (its fulfilment event): the shelf already
    # gave what the status said; only a quantity beyond it would leave.
    from webapp.models import FulfilmentEvent, OrderItem
    from webapp.stock.reservations import follow_fulfilment

    o1 = db.session.query(Order).filter_by(channel_order_id="O1").one()
    item = db.session.query(OrderItem).filter_by(order_id=o1.id, sku="SKU-A").one()
    db.session.add(FulfilmentEvent(order_item_id=item.id, kind="shipped", quantity=2))
    db.session.flush()
    assert follow_fulfilment(o1) == 1 and follow_fulfilment(o1) == 0
    db.session.commit()
    assert level(store.id, "SKU-A") == (8, 0)
    levels_match_movements(store.id)


def test_imported_orders_reserve_then_ship_cancel_and_refund_consume_once(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    fresh()
    assert movements(store.id, "order_reserved"), "the sandbox's open orders reserve"
    assert sum(m.reserved_delta for m in movements(store.id)) == open_reservations(account.id)
    import_orders(account)  # a re-poll reserves nothing more
    fresh()
    assert sum(m.reserved_delta for m in movements(store.id)) == open_reservations(account.id)

    order = ready(account)
    item = order.items[0]
    sku = item.sku
    before = level(store.id, sku)
    record_shipment(order, "colissimo", "Colissimo", "TRK-9", None, by="alice")
    record_shipment(order, "colissimo", "Colissimo", "TRK-9", None, by="alice")  # same one
    fresh()
    shipped = [m for m in movements(store.id, "order_shipped") if m.order_item_id == item.id]
    assert len(shipped) == 1 and shipped[0].actor == "alice"
    after = level(store.id, sku)
    assert after == (before[0] - item.quantity, before[1] - item.quantity)

    # Cancel another order: its reservation goes, on hand stays.
    other = ready(account)
    o_item = other.items[0]
    o_before = level(store.id, o_item.sku)
    record_action(other, "cancel", args={"reason": "NoInventory"}, by="bob")
    fresh()
    assert level(store.id, o_item.sku) == (o_before[0], o_before[1] - o_item.quantity)

    # Refund after shipping: restocked only when the store says so.
    db.session.add(
        StoreStockSettings(store_id=store.id, restock_on_refund=True, feed_is_stock_source=False)
    )
    db.session.commit()
    order = db.session.get(Order, order.id)
    record_action(order, "refund", by="carol")
    fresh()
    refunds = movements(store.id, "order_refunded")
    assert [(m.order_item_id, m.on_hand_delta) for m in refunds if m.order_item_id == item.id] == [
        (item.id, item.quantity)
    ]
    assert level(store.id, sku)[0] == before[0]
    assert sum(m.reserved_delta for m in movements(store.id)) == open_reservations(account.id)
    levels_match_movements(store.id)
    count = db.session.scalar(select(func.count(StockMovement.id)))
    import_orders(account)
    fresh()
    assert db.session.scalar(select(func.count(StockMovement.id))) >= count
    assert sum(m.reserved_delta for m in movements(store.id)) == open_reservations(account.id)


def test_the_demo_store_stock_comes_from_its_feed_and_sandbox_orders_reserve_it(
    app, store, sandbox
):
    from sandbox.catalog import rows
    from webapp.demo import seed_demo_catalog
    from webapp.models import StockLevel
    from webapp.stock.availability import available_quantities

    seed_demo_catalog(store, echo=lambda _line: None)
    feed = {row["id"]: int(row["quantity"]) for row in rows()}
    held = dict(db.session.query(StockLevel.sku, StockLevel.on_hand).all())
    assert held == feed
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    fresh()
    reserved = sum(m.reserved_delta for m in movements(store.id) if m.order_item_id)
    assert reserved == open_reservations(account.id) > 0
    available = available_quantities(account)
    for sku, on_hand, held_now in db.session.query(
        StockLevel.sku, StockLevel.on_hand, StockLevel.reserved
    ):
        assert available[sku] == max(0, on_hand - held_now), sku

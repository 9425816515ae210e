"""Migration 0020: the partial index of the order lines left to ship, both ways, and the
"to ship" filter answering the same with or without it."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from tests.models.revisions import before
from tests.webapp.test_bulk_shipping_pages import letzshop, order_with
from webapp.extensions import db
from webapp.orders import queries

INDEX = "ix_order_items_to_ship"


def _indexes() -> set[str]:
    return {ix["name"] for ix in inspect(db.engine).get_indexes("order_items")}


def _to_ship(store_id: int) -> list[str]:
    page = queries.orders_page(store_id, queries.OrderFilters(to_ship=True), 1, 25)
    return sorted(o.channel_order_id for o in page.items)


def test_the_index_comes_and_goes_and_the_filter_answers_the_same(app, store):
    account = letzshop(store)
    order_with(account, "OPEN", [("A", 2, 1, 0)])
    order_with(account, "LEFT", [("A", 2, 2, 0), ("B", 1, 0, 1)])
    db.session.commit()
    store_id = store.id
    assert INDEX in _indexes()
    assert _to_ship(store_id) == ["OPEN"]
    db.session.remove()

    downgrade(revision=before("0020_orders_to_ship"))
    assert INDEX not in _indexes()
    assert _to_ship(store_id) == ["OPEN"]
    db.session.remove()

    upgrade()  # built on a table that holds lines
    assert INDEX in _indexes()
    assert _to_ship(store_id) == ["OPEN"]

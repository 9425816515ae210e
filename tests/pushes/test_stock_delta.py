"""The stock push's delta as one set-based query (``stock_delta``, ``available_select``) gives
exactly the answer of the streamed stock engine (``iter_available`` merged with the published
SKUs) on a mixed store, on SQLite and PostgreSQL: safety stock, threshold and the zero-stock
rule, the store's overrides (inactive, out of stock, a SKU published twice), several
warehouses and reservations, published SKUs without stock, stock nobody publishes, SKUs
acknowledged, acknowledged differently, never acknowledged or with a price only, and the
code-point order of non-ASCII SKUs. Both query shapes: a store with several warehouses and
marketplaces (levels and products grouped per SKU) and one with one of each (joined flat)."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select, update

from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import MarketplaceProduct, Product, PushState, StockLevel
from webapp.models.stock import MANUAL
from webapp.pushes.flows import published_available, published_skus, stock_delta
from webapp.stock import levels, service
from webapp.stock.availability import (
    _one_per_sku,
    available_quantities,
    available_select,
    iter_available,
)

STOCK = {  # sku -> on hand in the default warehouse
    "A-1": 10,
    "B-2": 3,
    "b-1": 8,  # after every upper-case SKU in code-point order
    "C-inactive": 9,
    "D-oos": 9,
    "E-twice": 6,  # published on two marketplaces: one sells, one is inactive
    "F-twice-off": 6,  # published on two marketplaces, neither sells
    "G-zero": 0,
    "H-reserved": 7,
    "I-unpublished": 5,  # stock nobody publishes
    "J-unpublished-acked": 5,
    "Ä-umlaut": 12,
    "Z-2": 4,
    "Ω-last": 20,
}
# (sku, marketplace, active, product availability override, source availability)
PUBLISHED = [
    ("A-1", "default", True, None, "in_stock"),
    ("B-2", "default", True, None, "in_stock"),
    ("b-1", "default", True, None, "in_stock"),
    ("C-inactive", "default", False, None, "in_stock"),
    ("D-oos", "default", True, "out_of_stock", "in_stock"),
    ("E-twice", "default", False, None, "in_stock"),
    ("E-twice", "amazon", True, None, "in_stock"),
    ("F-twice-off", "default", False, None, "in_stock"),
    ("F-twice-off", "amazon", True, None, "out_of_stock"),
    ("G-zero", "default", True, None, "in_stock"),
    ("H-reserved", "default", True, None, "in_stock"),
    ("K-no-stock", "default", True, None, "in_stock"),  # published, no stock: never sent
    ("L-no-stock-acked", "default", True, None, "in_stock"),
    ("Ä-umlaut", "default", True, None, "in_stock"),
    ("Z-2", "default", True, None, "in_stock"),
    ("Ω-last", "default", True, None, "in_stock"),
]


def build(store, other_store, *, flat: bool = False):
    """The mixed store; ``flat``: one warehouse and one marketplace only."""
    warehouse = levels.default_warehouse_id(store.id)
    levels.set_on_hand(
        store.id, [(sku, warehouse, qty) for sku, qty in STOCK.items()], reason=MANUAL
    )
    if not flat:
        service.set_quantity(store, "A-1", 5, warehouse="north", actor="t")  # 15 on hand
    db.session.execute(
        update(StockLevel)
        .where(StockLevel.store_id == store.id, StockLevel.sku == "H-reserved")
        .values(reserved=4)
    )
    # Another store's stock and product of the same SKUs are not this store's.
    levels.set_on_hand(
        other_store.id, [("A-1", levels.default_warehouse_id(other_store.id), 99)], reason=MANUAL
    )
    for n, (sku, marketplace, active, override, source) in enumerate(PUBLISHED):
        if flat and marketplace != "default":
            continue
        mp = MarketplaceProduct(
            store_id=store.id,
            marketplace=marketplace,
            marketplace_product_id=sku,
            availability=source,
            content_hash=n,
        )
        db.session.add(mp)
        db.session.flush()
        db.session.add(
            Product(
                store_id=store.id,
                marketplace_product_id=mp.id,
                is_active=active,
                availability=override,
            )
        )
    db.session.commit()
    assert _one_per_sku(store.id) is flat


def acknowledge(account, values: dict) -> None:
    db.session.execute(
        insert(PushState),
        [
            {"account_id": account.id, "sku": sku, "quantity": qty, "price": 1}
            for sku, qty in values.items()
        ],
    )
    db.session.commit()


def reference(account) -> tuple[list[dict], int]:
    """The delta as the streamed engine gives it: published SKUs the stock knows, compared
    with the acknowledged quantities, then 0 for the acknowledged ones left (not zero)."""
    available = dict(iter_available(account))
    acked = {
        sku: qty
        for sku, qty in db.session.execute(
            select(PushState.sku, PushState.quantity).where(
                PushState.account_id == account.id, PushState.quantity.is_not(None)
            )
        )
    }
    items, unchanged = [], 0
    for sku in published_skus(account.store_id):
        if sku not in available:
            continue
        if acked.pop(sku, None) == available[sku]:
            unchanged += 1
        else:
            items.append({"reference": sku, "quantity": available[sku]})
    items += [{"reference": s, "quantity": 0} for s, q in sorted(acked.items()) if q != 0]
    return items, unchanged


def accounts(store):
    send = create_account(
        store,
        "lengow",
        "Send",
        settings={"account_id": "1"},
        secrets={"access_token": "a", "secret": "s"},
    )
    hold = create_account(
        store,
        "lengow",
        "Hold",
        settings={"account_id": "2"},
        secrets={"access_token": "a", "secret": "s"},
    )
    service.update_settings(send, safety_stock=2, oos_threshold=1)
    service.update_settings(hold, safety_stock=1, oos_threshold=3, zero_stock="hold")
    return send, hold


@pytest.mark.parametrize("flat", [False, True], ids=["grouped", "flat"])
def test_available_select_is_the_stock_engines_answer(app, store, other_store, flat):
    build(store, other_store, flat=flat)
    for account in accounts(store):
        expected = available_quantities(account)
        assert dict(db.session.execute(available_select(account)).all()) == expected
        published = set(published_skus(store.id))
        assert dict(db.session.execute(available_select(account, published_only=True)).all()) == {
            sku: qty for sku, qty in expected.items() if sku in published
        }
        # The stock check's view: the same, in the stock engine's (code-point) order.
        assert list(published_available(account)) == [
            (sku, qty) for sku, qty in iter_available(account) if sku in published
        ]


@pytest.mark.parametrize("flat", [False, True], ids=["grouped", "flat"])
def test_the_set_based_delta_is_the_streamed_one(app, store, other_store, flat):
    build(store, other_store, flat=flat)
    send, hold = accounts(store)
    # Nothing acknowledged: every published SKU with stock is sent, in code-point order.
    items, unchanged = stock_delta(send)
    assert (items, unchanged) == reference(send)
    # 15 on hand (10 + 5 in the north warehouse) - 2 safety; E-twice: one of its
    # two products sells; flat: 10 - 2, and its only product is inactive.
    a_1, e_twice = (8, 0) if flat else (13, 4)
    assert [i["reference"] for i in items] == [
        "A-1",
        "B-2",
        "C-inactive",
        "D-oos",
        "E-twice",
        "F-twice-off",
        "G-zero",
        "H-reserved",
        "Z-2",
        "b-1",
        "Ä-umlaut",
        "Ω-last",
    ]
    quantities = {i["reference"]: i["quantity"] for i in items}
    # 3 - 2 = 1 <= threshold; inactive, out of stock and neither sells: 0;
    # 7 on hand - 4 reserved - 2 = 1 <= threshold.
    assert quantities["A-1"] == a_1 and quantities["B-2"] == 0 and quantities["E-twice"] == e_twice
    assert quantities["C-inactive"] == quantities["D-oos"] == quantities["F-twice-off"] == 0
    assert quantities["H-reserved"] == 0 and quantities["Ω-last"] == 18

    # Acknowledged: some equal, some not, unpublished or without stock (sent as 0 unless
    # acknowledged as 0), one with a price only (never a quantity: sent).
    acknowledge(
        send,
        {
            "A-1": a_1,
            "B-2": 1,
            "C-inactive": 0,
            "E-twice": e_twice,
            "G-zero": 0,
            "Ω-last": 17,
            "I-unpublished": 0,
            "J-unpublished-acked": 3,
            "L-no-stock-acked": 2,
            "GONE": 5,
            "H-reserved": None,
        },
    )
    items, unchanged = stock_delta(send)
    assert (items, unchanged) == reference(send)
    assert unchanged == 4  # A-1, C-inactive, E-twice, G-zero
    assert items[-3:] == [
        {"reference": "GONE", "quantity": 0},
        {"reference": "J-unpublished-acked", "quantity": 0},
        {"reference": "L-no-stock-acked", "quantity": 0},
    ]
    assert {"reference": "Ω-last", "quantity": 18} in items
    assert not any(i["reference"] in ("I-unpublished", "K-no-stock") for i in items)

    # The hold account: at or below its threshold it is the threshold.
    acknowledge(hold, {"B-2": 3, "Z-2": 0})
    items, unchanged = stock_delta(hold)
    assert (items, unchanged) == reference(hold)
    held = {i["reference"]: i["quantity"] for i in items}
    assert "B-2" not in held and held["Z-2"] == 3 and held["G-zero"] == 3 and unchanged == 1

    # Everything acknowledged as it is now: nothing to send.
    db.session.execute(
        update(PushState).where(PushState.account_id == send.id).values(quantity=None)
    )
    acknowledge_all = {i["reference"]: i["quantity"] for i in stock_delta(send)[0]}
    db.session.execute(
        PushState.__table__.delete().where(
            PushState.account_id == send.id, PushState.sku.in_(list(acknowledge_all))
        )
    )
    acknowledge(send, acknowledge_all)
    assert stock_delta(send) == ([], 12) == reference(send)

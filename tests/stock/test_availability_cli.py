"""Available to sell per account (seed 001 4.4) with the store's overrides, and the stock
commands (`flask stock set|show`, `flask accounts stock-settings`), on both databases."""

from __future__ import annotations

import json

from tests.stock.helpers import level, movements
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import MarketplaceProduct, Product
from webapp.stock import service
from webapp.stock.availability import available_quantities, iter_available
from webapp.stock.levels import default_warehouse_id, set_on_hand


def account_of(store, name="Lengow"):
    return create_account(
        store,
        "lengow",
        name,
        settings={"account_id": "5622"},
        secrets={"access_token": "a", "secret": "s"},
    )


def publish(store, sku, *, active=True, availability=None, source_availability="in_stock"):
    mp = MarketplaceProduct(
        store_id=store.id,
        marketplace_product_id=sku,
        availability=source_availability,
        content_hash=1,
    )
    db.session.add(mp)
    db.session.flush()
    db.session.add(
        Product(
            store_id=store.id,
            marketplace_product_id=mp.id,
            is_active=active,
            availability=availability,
        )
    )
    db.session.commit()


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=[str(a) for a in args])
    return result, (json.loads(result.output.strip().splitlines()[-1]) if result.output else None)


def test_formula_safety_stock_threshold_zero_stock_and_overrides(app, store, other_store):
    account, held = account_of(store), account_of(store, "Lengow hold")
    wh = default_warehouse_id(store.id)
    set_on_hand(
        store.id,
        [("A", wh, 10), ("B", wh, 3), ("C", wh, 10), ("D", wh, 10), ("E", wh, 0)],
        reason="manual",
    )
    second = service.set_quantity(store, "A", 5, warehouse="north", actor="t")
    assert second["on_hand"] == 15 and {w["code"] for w in second["warehouses"]} == {
        "default",
        "north",
    }
    publish(store, "C", active=False)
    publish(store, "D", availability="out_of_stock")
    publish(store, "B")
    # Another store's stock of the same SKU is not this store's.
    set_on_hand(other_store.id, [("A", default_warehouse_id(other_store.id), 99)], reason="manual")
    db.session.commit()
    service.update_settings(account, safety_stock=2, oos_threshold=1)
    service.update_settings(held, safety_stock=2, oos_threshold=2, zero_stock="hold")
    assert available_quantities(account) == {"A": 13, "B": 0, "C": 0, "D": 0, "E": 0}
    # B: 3 - 2 = 1 <= threshold 2 -> the threshold itself (hold); C, D: the store says no.
    assert available_quantities(held) == {"A": 13, "B": 2, "C": 0, "D": 0, "E": 2}
    assert available_quantities(account, ["B", "A", "nope"]) == {"B": 0, "A": 13, "nope": 0}
    assert list(iter_available(account, batch=2)) == sorted(available_quantities(account).items())
    other = account_of(other_store)
    assert available_quantities(other) == {"A": 99}


def test_cli_set_show_and_stock_settings(app, store, other_store):
    account = account_of(store)
    result, out = cli(
        app,
        "stock",
        "set",
        "--store",
        "acme",
        "--sku",
        "X-1",
        "--quantity",
        "7",
        "--reason",
        "count",
    )
    assert result.exit_code == 0, result.output
    assert (out["sku"], out["on_hand"], out["reserved"]) == ("X-1", 7, 0)
    assert out["available"] == {str(account.id): 7}
    [m] = movements(store.id)
    assert (m.reason, m.on_hand_delta, m.actor, m.note) == ("manual", 7, "cli", "count")
    result, out = cli(app, "stock", "set", "--store", "acme", "--sku", "X-1", "--quantity", "-1")
    assert result.exit_code == 1 and out["field"] == "quantity"
    assert level(store.id, "X-1") == (7, 0)
    result, out = cli(
        app,
        "accounts",
        "stock-settings",
        account.id,
        "--safety-stock",
        "2",
        "--zero-stock",
        "hold",
        "--strategy",
        "realtime",
    )
    assert result.exit_code == 0, result.output
    assert (out["safety_stock"], out["zero_stock"], out["strategy"]) == (2, "hold", "realtime")
    result, out = cli(app, "accounts", "stock-settings", account.id, "--oos-threshold", "x")
    assert result.exit_code == 1 and out["field"] == "out-of-stock threshold"
    cli(app, "stock", "set", "--store", "acme", "--sku", "X-2", "--quantity", "1")
    cli(app, "stock", "set", "--store", "globex", "--sku", "G-1", "--quantity", "1")
    result = app.test_cli_runner().invoke(args=["stock", "show", "--store", "acme"])
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert rows == [
        {"sku": "X-1", "on_hand": 7, "reserved": 0, "available": {str(account.id): 5}},
        {"sku": "X-2", "on_hand": 1, "reserved": 0, "available": {str(account.id): 0}},
    ]
    result, out = cli(app, "stock", "show", "--store", "acme", "--sku", "G-1")
    assert result.exit_code == 1


def test_products_publish_by_store_with_overrides(app, store, other_store):
    from decimal import Decimal

    for sku, price in (("P-1", "10"), ("P-2", "20"), ("P-3", None)):
        db.session.add(
            MarketplaceProduct(
                store_id=store.id,
                marketplace_product_id=sku,
                price=Decimal(price) if price else None,
                currency="EUR",
                content_hash=1,
            )
        )
    db.session.add(
        MarketplaceProduct(
            store_id=other_store.id, marketplace_product_id="P-9", price=1, content_hash=1
        )
    )
    db.session.commit()
    result, out = cli(
        app,
        "products",
        "publish",
        "--store",
        "acme",
        "--sku",
        "P-1",
        "--sku",
        "P-9",
        "--sale-price",
        "5",
        "--inactive",
    )
    assert result.exit_code == 1 and out == {"published": 1, "refused": {}, "unknown": ["P-9"]}
    product = db.session.query(Product).one()
    assert (product.sale_price, product.is_active) == (Decimal("5"), False)
    result, out = cli(app, "products", "publish", "--store", "acme", "--all")
    assert out["published"] == 2 and list(out["refused"]) == ["P-3"]  # no price to publish
    assert db.session.query(Product).filter_by(store_id=store.id).count() == 2
    assert db.session.query(Product).filter_by(store_id=other_store.id).count() == 0
    usage = app.test_cli_runner().invoke(args=["products", "publish", "--store", "acme"])
    assert usage.exit_code == 2 and "--all or --sku" in usage.output

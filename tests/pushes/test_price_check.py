"""The price side of the nightly stock check, against the served sandbox: for an account whose
price push is on, every SKU whose price on ShoppingFeed differs from the one Mercato sends is a
message naming the SKU, both prices and the cause; "fix" sends the corrections (a price Mercato
does not have is reported, never "corrected"). ShoppingFeed's pricing read is the official
SDK's, not in CONNECTORS.md (connectors/shoppingfeed/unverified.py)."""

from __future__ import annotations

from decimal import Decimal

import requests
from sqlalchemy import select

from tests.pushes.test_shoppingfeed_push import SF_STORE, account_on, held, publish, run
from webapp.extensions import db
from webapp.models import Message, Product
from webapp.models import runs as R


def pricing(url: str) -> dict:
    return held(url)["stores"][SF_STORE]["pricing"]


def price_messages(run_id: int) -> dict[str, Message]:
    return {
        m.identifier: m
        for m in db.session.scalars(
            select(Message).where(
                Message.import_job_id == run_id, Message.error_type == "price_drift"
            )
        )
    }


def test_price_drifts_are_named_and_fix_sends_the_corrections(app, store, sandbox):
    publish(store, 4, quantity=lambda i: 3, price="10.00")
    account = account_on(app, store, sandbox)
    run(account, "stock_export")
    run(account, "price_export")
    assert pricing(sandbox) == {f"SKU-000{i}": 10.0 for i in range(4)}
    # behind Mercato's back: one price changed, one removed, one Mercato does not publish;
    # and a sale price set in Mercato, not pushed yet
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/pricing",
        json={"store": SF_STORE, "pricing": {"SKU-0001": 12.5, "SKU-0002": None, "GHOST": 3}},
        timeout=10,
    )
    product = db.session.scalars(select(Product).order_by(Product.id.desc())).first()
    product.sale_price = Decimal("8.00")  # SKU-0003
    db.session.commit()

    check = run(account, "stock_check")
    assert check.status == R.COMPLETED, check.error_message
    found = price_messages(check.id)
    assert set(found) == {"SKU-0001", "SKU-0002", "SKU-0003", "GHOST"}
    assert found["SKU-0001"].error_message == (
        "SKU SKU-0001: price Mercato 10.00, ShoppingFeed 12.50 (changed on the marketplace "
        "after it acknowledged 10.00 (outside Mercato))."
    )
    assert found["SKU-0002"].error_message.startswith(
        "SKU SKU-0002: price Mercato 10.00, ShoppingFeed none (ShoppingFeed holds no price"
    )
    assert "changed in Mercato since the last price push" in found["SKU-0003"].error_message
    assert "price Mercato 8.00, ShoppingFeed 10.00" in found["SKU-0003"].error_message
    assert "price Mercato none, ShoppingFeed 3.00" in found["GHOST"].error_message
    assert found["GHOST"].row_data["item"] is None  # nothing a fix could send
    assert found["SKU-0001"].severity == R.WARNING
    assert check.warning_count == 4
    assert held(sandbox)["counters"]["pricing_updates"] == 1  # a check without fix sends none

    fixed = run(account, "stock_check", trigger="fix")
    assert fixed.status == R.COMPLETED, fixed.error_message
    assert fixed.updated_count == 3
    assert pricing(sandbox) == {
        "SKU-0000": 10.0,
        "SKU-0001": 10.0,
        "SKU-0002": 10.0,
        "SKU-0003": 8.0,
        "GHOST": 3.0,
    }
    again = run(account, "stock_check")
    assert set(price_messages(again.id)) == {"GHOST"}
    assert again.outcome["prices"] == {"checked": True, "compared": 5, "drifts": 1}


def test_prices_are_not_checked_while_the_price_push_is_off(app, store, sandbox):
    publish(store, 2, quantity=lambda i: 3, price="10.00")
    account = account_on(app, store, sandbox)
    run(account, "stock_export")
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/pricing",
        json={"store": SF_STORE, "pricing": {"SKU-0001": 99}},
        timeout=10,
    )
    check = run(account, "stock_check")
    assert (check.status, check.warning_count) == (R.COMPLETED, 0)
    assert check.outcome["prices"] == {"checked": False}
    assert price_messages(check.id) == {}

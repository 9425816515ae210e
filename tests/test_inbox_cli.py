"""``flask inbox list|resolve|retry|rematch``: the inbox from a shell, JSON summary last."""

from __future__ import annotations

import json

from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import MarketplaceProduct, Message, Order, OrderItem, Run
from webapp.orders import matching


def invoke(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.rollback()
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return lines[:-1], json.loads(lines[-1])


def test_list_resolve_retry_and_rematch(app, store, other_store):
    account = create_account(store, "letzshop", "Letzshop LU", secrets={"api_token": "t"})
    run = Run(kind="order_import", store_id=store.id, account_id=account.id, status="completed")
    db.session.add(run)
    db.session.flush()
    for number in ("R1", "R2"):
        order = Order(
            store_id=store.id,
            account_id=account.id,
            channel="letzshop",
            channel_order_id=number,
            status="confirmed",
        )
        order.items.append(OrderItem(sku="SKU-LOST", quantity=1, matched=False))
        db.session.add(order)
    other = Message(import_job_id=run.id, error_type="bad_address", error_message="no street")
    db.session.add(other)
    db.session.commit()
    [entry] = matching.record_unknown(run.id, store.id, account.id, ["SKU-LOST"])
    db.session.commit()

    rows, summary = invoke(app, "inbox", "list", "--store", "acme", "--format", "json")
    assert summary == {
        "total": 2,
        "page": 1,
        "pages": 1,
        "causes": {"bad_address": 1, "unknown_sku": 1},
    }
    first = json.loads(rows[0])
    assert first["id"] == entry and first["orders_waiting"] == 2
    rows, summary = invoke(app, "inbox", "list", "--cause", "unknown_sku")
    assert summary["total"] == 1 and "SKU-LOST (2 orders waiting)" in rows[0]
    _, summary = invoke(app, "inbox", "list", "--store", "globex")
    assert summary["total"] == 0

    _, tally = invoke(app, "inbox", "retry", str(entry), "--by", "ops")
    assert tally == {"resolved": 0, "failed": 1, "skipped": 0}
    db.session.add(
        MarketplaceProduct(
            store_id=store.id, marketplace="Letzshop", marketplace_product_id="SKU-LOST",
            content_hash=1,
        )
    )  # fmt: skip
    db.session.commit()
    _, summary = invoke(app, "inbox", "rematch", "--store", "acme")
    assert summary == {"open": 1, "resolved": 1}
    assert all(item.matched for item in OrderItem.query.all())
    _, summary = invoke(app, "inbox", "resolve", str(other.id), "--by", "ops")
    assert summary == {"resolved": 1, "already": 0}
    assert db.session.get(Message, other.id).resolved_by == "ops"
    _, summary = invoke(app, "inbox", "list", "--store", "acme")
    assert summary["total"] == 0
    missing = app.test_cli_runner().invoke(args=["inbox", "resolve", "999999"])
    assert missing.exit_code != 0 and "No message 999999" in missing.output

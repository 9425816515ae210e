"""The error inbox over the API (/api/v1/store/inbox): what the page lists, filtered and
paged, each store's only; resolve and retry one. Every answer is checked against the
OpenAPI document by the test client."""

from __future__ import annotations

from datetime import timedelta

from webapp.accounts import create_account
from webapp.extensions import db, queue
from webapp.models import Message, Order, OrderItem, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.orders import matching


def seeded(store, other_store):
    account = create_account(store, "letzshop", "Letzshop LU", secrets={"api_token": "t"})
    run = Run(kind="order_import", store_id=store.id, account_id=account.id, status="completed")
    theirs = Run(kind="order_import", store_id=other_store.id, status="completed")
    db.session.add_all([run, theirs])
    db.session.flush()
    order = Order(
        store_id=store.id,
        account_id=account.id,
        channel="letzshop",
        channel_order_id="R1",
        status="confirmed",
    )
    order.items.append(OrderItem(sku="SKU-LOST", quantity=1, matched=False))
    db.session.add(order)
    old = utcnow() - timedelta(days=9)
    db.session.add_all(
        [
            Message(
                import_job_id=run.id,
                severity=R.ERROR,
                error_type="connector_error",
                error_message="401 from Letzshop",
                subject_type="account",
                subject_id=account.id,
                created_at=old,
            ),
            Message(
                import_job_id=run.id,
                severity=R.RETRY,
                error_type="outbound_failed",
                error_message="503",
            ),
            Message(
                import_job_id=theirs.id,
                severity=R.ERROR,
                error_type="connector_error",
                error_message="globex's",
            ),
        ]
    )
    db.session.commit()
    [entry] = matching.record_unknown(run.id, store.id, account.id, ["SKU-LOST"])
    db.session.commit()
    return account, entry


def test_a_store_lists_its_own_inbox_with_filters(shop, rival, store, other_store):
    account, entry = seeded(store, other_store)
    body = shop.api.get("/store/inbox").get_json()
    assert body["total"] == 2 and body["causes"] == {"connector_error": 1, "unknown_sku": 1}
    newest = body["items"][0]
    assert newest["id"] == entry and newest["subject"] == {
        "type": "sku",
        "id": None,
        "identifier": "SKU-LOST",
    }
    assert newest["orders_waiting"] == 1 and newest["account"]["name"] == "Letzshop LU"
    assert newest["store"] == {"id": store.id, "code": "acme"}
    assert "globex's" not in str(body)
    old = shop.api.get("/store/inbox", query_string={"age": "old7"}).get_json()
    assert [i["cause"] for i in old["items"]] == ["connector_error"]
    retrying = shop.api.get("/store/inbox", query_string={"severity": "retry"}).get_json()
    assert [i["cause"] for i in retrying["items"]] == ["outbound_failed"]
    query = {"account_id": account.id, "limit": 1, "page": 2}
    page = shop.api.get("/store/inbox", query_string=query).get_json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["page"] == 2
    assert shop.api.get("/store/inbox", query_string={"severity": "x"}).status_code == 422
    assert [i["message"] for i in rival.api.get("/store/inbox").get_json()["items"]] == ["globex's"]


def test_admins_see_every_store_or_one(admin, store, other_store):
    seeded(store, other_store)
    assert admin.api.get("/store/inbox").get_json()["total"] == 3
    one = admin.api.get("/store/inbox", query_string={"store_id": other_store.id}).get_json()
    assert [i["store"]["code"] for i in one["items"]] == ["globex"]


def test_resolve_and_retry_one(shop, rival, store, other_store):
    _, entry = seeded(store, other_store)
    assert rival.api.post(f"/store/inbox/{entry}/resolve", json={}).status_code == 404
    assert rival.api.post(f"/store/inbox/{entry}/retry", json={}).status_code == 404
    response = shop.api.post(f"/store/inbox/{entry}/retry", json={})
    assert response.status_code == 202 and response.get_json() == {"id": entry, "status": "queued"}
    assert len(queue("default")) == 1
    connector = db.session.scalar(
        db.select(Message.id).where(
            Message.error_type == "connector_error", Message.store_id == store.id
        )
    )
    resolved = shop.api.post(f"/store/inbox/{connector}/resolve")
    assert resolved.status_code == 200 and resolved.get_json()["resolved"] is True
    assert db.session.get(Message, connector).resolved_by == "shop@example.com"
    assert shop.api.post(f"/store/inbox/{connector}/resolve").status_code == 409
    assert shop.api.post(f"/store/inbox/{connector}/retry").status_code == 409
    plain = shop.api.post(f"/store/inbox/{entry}/resolve", data="x", content_type="text/plain")
    assert plain.status_code == 415

"""/api/v1 (issue 15): the store's products listed with their publication, its feeds listed, a
feed's executions and their messages; answers checked against the OpenAPI document by the
client; another store's token gets 404."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import Feed, MarketplaceProduct, Message, Product, Run
from webapp.models import runs as R
from webapp.models.base import utcnow


def _products(store, n: int) -> list[MarketplaceProduct]:
    found = []
    for i in range(n):
        source = MarketplaceProduct(
            store_id=store.id,
            marketplace_product_id=f"P-{i}",
            price=Decimal("10.00"),
            currency="EUR",
            content_hash=1,
        )
        db.session.add(source)
        found.append(source)
    db.session.flush()
    return found


def test_products_list_pages_by_id_with_publication_and_publish_with_overrides(
    app, store, other_store, shop, rival, admin
):
    mine = _products(store, 3)
    _products(other_store, 1)
    db.session.add(Product(store_id=store.id, marketplace_product_id=mine[1].id))
    db.session.commit()

    first = shop.api.get("/store/products", query_string={"limit": 2})
    assert first.status_code == 200
    body = first.get_json()
    assert [p["marketplace_product_id"] for p in body["items"]] == ["P-0", "P-1"]
    assert body["items"][0]["publication"] is None
    assert body["items"][1]["publication"]["effective_price"] == "10.00"
    rest = shop.api.get("/store/products", query_string={"after_id": body["next_after_id"]})
    assert [p["id"] for p in rest.get_json()["items"]] == [mine[2].id]
    assert rest.get_json()["next_after_id"] is None
    published = shop.api.get("/store/products", query_string={"published": "true"}).get_json()
    assert [p["id"] for p in published["items"]] == [mine[1].id]

    # Publish with overrides, then the list says so.
    done = shop.api.request(
        "PUT", f"/store/products/{mine[0].id}/publication", json={"price": "8.50"}
    )
    assert done.status_code == 200
    listed = shop.api.get("/store/products", query_string={"published": "true"}).get_json()
    assert {p["id"]: p["publication"]["price"] for p in listed["items"]} == {
        mine[0].id: "8.50",
        mine[1].id: None,
    }

    # Another store: its list holds none of these, naming this store is 404, and so is a detail.
    theirs = rival.api.get("/store/products").get_json()
    assert [p["marketplace_product_id"] for p in theirs["items"]] == ["P-0"]
    assert theirs["items"][0]["id"] not in {p.id for p in mine}
    assert rival.api.get("/store/products", query_string={"store_id": store.id}).status_code == 404
    assert rival.api.get(f"/store/products/{mine[0].id}").status_code == 404
    assert admin.api.get("/store/products").status_code == 404  # an admin names the store
    assert (
        len(
            admin.api.get("/store/products", query_string={"store_id": store.id}).get_json()[
                "items"
            ]
        )
        == 3
    )
    assert shop.api.get("/store/products", query_string={"limit": 0}).status_code == 422
    assert shop.api.get("/store/products", token=None).status_code == 401


def test_feeds_list_executions_and_messages_with_tenant_isolation(
    app, store, other_store, shop, rival
):
    account = create_account(
        store,
        "lengow",
        "Lengow FR",
        settings={"account_id": "1"},
        secrets={"access_token": "a", "secret": "s"},
    )
    listed = shop.api.get("/store/feeds")
    assert listed.status_code == 200
    feeds = {f["kind"]: f for f in listed.get_json()["items"] if f["account_id"] == account.id}
    assert {"import_orders", "catalog_export", "shipping_confirmation"} <= set(feeds)
    orders = feeds["import_orders"]
    assert orders["enabled"] and orders["built"] and orders["interval_seconds"] == 300
    assert orders["last_execution"] is None and orders["account_name"] == "Lengow FR"

    feed = db.session.get(Feed, orders["id"])
    now = utcnow()
    older = Run(
        store_id=store.id,
        account_id=account.id,
        feed_id=feed.id,
        kind="order_import",
        trigger="schedule",
        status=R.COMPLETED,
        created_at=now,
        completed_at=now,
    )
    newer = Run(
        store_id=store.id,
        account_id=account.id,
        feed_id=feed.id,
        kind="order_import",
        trigger="api",
        status=R.FAILED,
        error_message="boom",
        created_at=now,
    )
    db.session.add_all([older, newer])
    db.session.flush()
    db.session.add(
        Message(
            import_job_id=newer.id,
            severity=R.ERROR,
            error_type="http",
            error_message="The marketplace answered 500.",
        )
    )
    db.session.commit()

    again = shop.api.get("/store/feeds").get_json()
    [row] = [f for f in again["items"] if f["id"] == feed.id]
    assert row["last_execution"]["id"] == newer.id and row["last_execution"]["status"] == "failed"
    page = shop.api.get(f"/store/feeds/{feed.id}/executions").get_json()
    assert [e["id"] for e in page["items"]] == [newer.id, older.id] and page["total"] == 2
    one = shop.api.get(f"/store/feeds/{feed.id}/executions/{older.id}").get_json()
    assert (one["trigger"], one["status"]) == ("schedule", "completed")
    messages = shop.api.get(f"/store/feeds/{feed.id}/executions/{newer.id}/messages").get_json()
    assert [m["error_message"] for m in messages["items"]] == ["The marketplace answered 500."]
    other_feed = db.session.scalar(
        select(Feed.id).where(Feed.account_id == account.id, Feed.kind == "catalog_export")
    )
    # An execution asked under another feed of the same store: no such execution.
    assert shop.api.get(f"/store/feeds/{other_feed}/executions/{older.id}").status_code == 404

    # Another store's token: the feed, its executions, one execution, its messages and Run
    # now are all 404; its own list holds none of them.
    for path in (
        f"/store/feeds/{feed.id}/executions",
        f"/store/feeds/{feed.id}/executions/{older.id}",
        f"/store/feeds/{feed.id}/executions/{newer.id}/messages",
    ):
        assert rival.api.get(path).status_code == 404, path
    assert rival.api.post(f"/store/feeds/{feed.id}/executions").status_code == 404
    assert all(f["id"] != feed.id for f in rival.api.get("/store/feeds").get_json()["items"])
    assert rival.api.get("/store/feeds", query_string={"store_id": store.id}).status_code == 404

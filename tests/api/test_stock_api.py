"""/api/v1/store/stock: one SKU's stock, setting on hand, movements; answers checked against
the OpenAPI document by the client; each store sees only its own stock."""

from __future__ import annotations

from tests.stock.helpers import level
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.stock.levels import default_warehouse_id, set_on_hand


def test_set_read_and_movements_of_a_sku(app, store, shop):
    account = create_account(
        store,
        "lengow",
        "Lengow",
        settings={"account_id": "1"},
        secrets={"access_token": "a", "secret": "s"},
    )
    done = shop.api.request(
        "PUT", "/store/stock", json={"sku": "A-1", "quantity": 4, "reason": "count"}
    )
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert (body["on_hand"], body["reserved"], body["changed"]) == (4, 0, True)
    assert body["available"] == {str(account.id): 4}
    shop.api.request("PUT", "/store/stock", json={"sku": "A-1", "quantity": 2, "warehouse": "n"})
    read = shop.api.get("/store/stock", query_string={"sku": "A-1"}).get_json()
    assert read["on_hand"] == 6 and {w["code"] for w in read["warehouses"]} == {"default", "n"}
    moves = shop.api.get(
        "/store/stock/movements", query_string={"sku": "A-1", "limit": "1"}
    ).get_json()
    assert [m["on_hand_delta"] for m in moves["items"]] == [2] and moves["next_before"]
    older = shop.api.get(
        "/store/stock/movements", query_string={"sku": "A-1", "before": moves["next_before"]}
    )
    [first] = older.get_json()["items"]
    assert (first["reason"], first["actor"], first["note"]) == (
        "manual",
        "api:shop@example.com",
        "count",
    )
    for bad in (
        {"sku": "A-1", "quantity": -1},
        {"sku": "A-1", "quantity": "3"},
        {"quantity": 1},
        {"sku": "A-1", "quantity": True},
    ):
        assert shop.api.request("PUT", "/store/stock", json=bad).status_code == 422, bad
    assert shop.api.request("PUT", "/store/stock", data="x").status_code == 415
    assert shop.api.get("/store/stock").status_code == 422
    assert level(store.id, "A-1") == (6, 0)


def test_each_store_sees_only_its_own_stock_and_admins_name_the_store(
    app, store, other_store, shop, rival, admin
):
    set_on_hand(
        other_store.id, [("THEIRS", default_warehouse_id(other_store.id), 9)], reason="manual"
    )
    db.session.commit()
    mine = shop.api.get("/store/stock", query_string={"sku": "THEIRS"}).get_json()
    assert (mine["on_hand"], mine["warehouses"]) == (0, [])
    assert (
        shop.api.get(
            "/store/stock", query_string={"sku": "THEIRS", "store_id": other_store.id}
        ).status_code
        == 404
    )
    assert (
        shop.api.get(
            "/store/stock/movements", query_string={"sku": "THEIRS", "store_id": other_store.id}
        ).status_code
        == 404
    )
    refused = shop.api.request(
        "PUT",
        "/store/stock",
        query_string={"store_id": other_store.id},
        json={"sku": "THEIRS", "quantity": 0},
    )
    assert refused.status_code == 404 and level(other_store.id, "THEIRS") == (9, 0)
    assert (
        shop.api.get("/store/stock/movements", query_string={"sku": "THEIRS"}).get_json()["items"]
        == []
    )
    assert rival.api.get("/store/stock", query_string={"sku": "THEIRS"}).get_json()["on_hand"] == 9
    assert admin.api.get("/store/stock", query_string={"sku": "THEIRS"}).status_code == 404
    assert (
        admin.api.get(
            "/store/stock", query_string={"sku": "THEIRS", "store_id": other_store.id}
        ).get_json()["on_hand"]
        == 9
    )

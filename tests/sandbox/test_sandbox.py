"""The fake marketplace server: Lengow v3 endpoints, Letzshop GraphQL, time and faults."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
import requests
from click.testing import CliRunner
from werkzeug.serving import make_server

from sandbox import create_sandbox_app, sandbox_cli
from sandbox.app import FaultError, parse_faults
from tests.conftest import real_fixture
from tests.sandbox_server import serve_in_thread

START = 1_790_000_000.0  # 2026-09-21T14:13:20Z
ACCOUNT = 5622
LETZSHOP_AUTH = {"Authorization": "Bearer sandbox-letzshop-token"}
ORDERS_QUERY = """
query GetOrders($since: DateTime, $status: [OrderStatus!], $first: Int, $after: String) {
  orders(filter: {updatedAt: {gte: $since}, status: {in: $status}}, first: $first, after: $after) {
    edges { node { id orderNumber status createdAt updatedAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def make_app(**overrides):
    config = {
        "SANDBOX_START": START,
        "SANDBOX_REALTIME": False,
        "SANDBOX_ORDERS": 250,
        "SANDBOX_SEED": 7,
    }
    config.update({f"SANDBOX_{k.upper()}": v for k, v in overrides.items()})
    return create_sandbox_app(config)


@pytest.fixture
def sandbox():
    return make_app()


@pytest.fixture
def client(sandbox):
    return sandbox.test_client()


def get_token(client, account=ACCOUNT):
    response = client.post(
        "/access/get_token",
        data={"access_token": f"sandbox-access-{account}", "secret": f"sandbox-secret-{account}"},
    )
    assert response.status_code == 200, response.data
    return response.get_json()["token"]


def state(client):
    return client.get("/_sandbox/state").get_json()


def read_all(client, token, account=ACCOUNT, **params):
    """Follow page=1,2,… as a naive reader does; the list of ids in reading order."""
    ids, page = [], 1
    while True:
        query = {"account_id": account, "page": page, "page_size": 100, **params}
        response = client.get("/v3.0/orders/", query_string=query, headers={"Authorization": token})
        assert response.status_code == 200, response.data
        body = response.get_json()
        ids.extend(o["marketplace_order_id"] for o in body["results"])
        if not body["next"]:
            return ids, body["count"]
        page += 1


def set_faults(client, **faults):
    response = client.post("/_sandbox/faults", json=faults)
    assert response.status_code == 200, response.data
    return response.get_json()["faults"]


def graphql(client, variables=None, headers=LETZSHOP_AUTH, query=ORDERS_QUERY):
    return client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


# -- authentication ------------------------------------------------------------------


def test_token_flow_and_bad_credentials(client):
    response = client.post(
        "/access/get_token",
        data={"access_token": "sandbox-access-5622", "secret": "sandbox-secret-5622"},
    )
    body = response.get_json()
    assert response.status_code == 200
    assert body["account_id"] == ACCOUNT and len(body["token"]) == 36
    assert body["expire_at"] == "2026-09-21T15:13:20Z"  # the documented hour

    wrong = client.post(
        "/access/get_token", data={"access_token": "sandbox-access-5622", "secret": "nope"}
    )
    assert wrong.status_code == 401
    assert wrong.get_json()["error"]["code"] == 401
    missing = client.post("/access/get_token", data={"access_token": "sandbox-access-5622"})
    assert missing.status_code == 400 and missing.get_json()["error"]["code"] == 400

    orders = "/v3.0/orders/?account_id=5622"
    assert client.get(orders).status_code == 401
    invalid = client.get(orders, headers={"Authorization": "not-a-token"})
    assert invalid.status_code == 401 and invalid.get_json()["error"]["code"] == 401
    bearer = client.get(orders, headers={"Authorization": f"Bearer {body['token']}"})
    assert bearer.status_code == 401  # Lengow wants the raw token
    ok = client.get(orders, headers={"Authorization": body["token"]})
    assert ok.status_code == 200
    other = client.get("/v3.0/orders/?account_id=6395", headers={"Authorization": body["token"]})
    assert other.status_code == 403 and other.get_json()["error"]["code"] == 403
    no_account = client.get("/v3.0/orders/", headers={"Authorization": body["token"]})
    assert no_account.status_code == 400


def test_token_lifetime_is_an_hour_without_faults(client):
    token = get_token(client)
    client.post("/_sandbox/advance?seconds=3599")
    assert client.get("/v3.0/marketplaces", headers={"Authorization": token}).status_code == 200
    client.post("/_sandbox/advance?seconds=2")
    expired = client.get("/v3.0/marketplaces", headers={"Authorization": token})
    assert expired.status_code == 401
    assert expired.get_json() == {
        "error": {"code": 401, "message": "Unauthorized access: token expired"}
    }


# -- orders --------------------------------------------------------------------------


def test_pagination_covers_every_order_exactly_once(client):
    token = get_token(client)
    ids, count = read_all(client, token)
    expected = state(client)["accounts"][str(ACCOUNT)]["ids"]
    assert count == 250 == len(ids) == len(set(ids))
    assert ids == expected  # default ordering: marketplace_order_date, then id

    first = client.get(
        "/v3.0/orders/?account_id=5622&page=1&page_size=100", headers={"Authorization": token}
    ).get_json()
    assert first["previous"] is None
    assert "page=2" in first["next"] and "account_id=5622" in first["next"]
    third = client.get(
        "/v3.0/orders/?account_id=5622&page=3&page_size=100", headers={"Authorization": token}
    ).get_json()
    assert third["next"] is None and len(third["results"]) == 50
    beyond = client.get("/v3.0/orders/?account_id=5622&page=4", headers={"Authorization": token})
    assert beyond.status_code == 404


def test_page_size_is_capped_at_100(client):
    token = get_token(client)
    body = client.get(
        "/v3.0/orders/?account_id=5622&page_size=500", headers={"Authorization": token}
    ).get_json()
    assert len(body["results"]) == 100 and body["count"] == 250
    bad = client.get("/v3.0/orders/?account_id=5622&page_size=x", headers={"Authorization": token})
    assert bad.status_code == 400


def test_filters(client):
    token = get_token(client)
    auth = {"Authorization": token}
    everything, total = read_all(client, token)

    amazon, count = read_all(client, token, marketplace="amazon_fr")
    assert 0 < count < total
    rows = client.get(
        "/v3.0/orders/?account_id=5622&marketplace=amazon_fr", headers=auth
    ).get_json()["results"]
    assert {o["marketplace"] for o in rows} == {"amazon_fr"}

    closed = client.get(
        "/v3.0/orders/?account_id=5622&lengow_status=closed&page_size=100", headers=auth
    ).get_json()
    assert closed["count"] > 0
    assert {o["lengow_status"] for o in closed["results"]} == {"closed"}

    cutoff = "2026-09-20T00:00:00Z"
    recent, count = read_all(client, token, marketplace_order_date_from=cutoff)
    assert 0 < count < total
    old, count_old = read_all(client, token, marketplace_order_date_to=cutoff)
    assert count + count_old == total and not set(recent) & set(old)

    updated, n_updated = read_all(client, token, updated_from="2026-09-21T12:00:00+00:00")
    assert 0 < n_updated < total
    rows = client.get(
        "/v3.0/orders/?account_id=5622&updated_from=2026-09-21T12:00:00Z&page_size=100",
        headers=auth,
    ).get_json()["results"]
    assert all(o["updated_at"] >= "2026-09-21T12:00:00" for o in rows)

    by_updated, _ = read_all(client, token, ordering="-updated_at")
    assert sorted(by_updated) == sorted(everything) and by_updated != everything
    assert (
        client.get("/v3.0/orders/?account_id=5622&updated_from=yesterday", headers=auth).status_code
        == 400
    )
    assert (
        client.get("/v3.0/orders/?account_id=5622&ordering=price", headers=auth).status_code == 400
    )


def test_default_window_is_seven_days():
    client = make_app(history_days=14).test_client()
    token = get_token(client)
    _, windowed = read_all(client, token)
    _, everything = read_all(client, token, marketplace_order_date_from="2026-01-01")
    assert everything == 250 and 0 < windowed < everything


def test_payload_has_the_shape_of_the_real_fixtures(client):
    real = json.loads(
        real_fixture("lengow", "woocommerce_orders_list_zalando_2024.json").read_text()
    )["results"][0]
    token = get_token(client)
    orders = []
    for page in (1, 2, 3):
        body = client.get(
            f"/v3.0/orders/?account_id=5622&page={page}", headers={"Authorization": token}
        ).get_json()
        orders.extend(body["results"])
    with_packages = [o for o in orders if o["packages"]]
    sample = with_packages[0]
    assert set(real) <= set(sample)
    assert set(real["packages"][0]["cart"][0]) <= set(sample["packages"][0]["cart"][0])
    assert set(real["packages"][0]["delivery"]) <= set(sample["packages"][0]["delivery"])
    assert set(real["billing_address"]) <= set(sample["billing_address"])
    # amounts come as JSON numbers and as strings, as in the real payloads
    assert any(isinstance(o["total_order"], float) for o in orders)
    assert all(isinstance(o["total_tax"], str) for o in orders if o["marketplace"] == "amazon_fr")
    line = sample["packages"][0]["cart"][0]
    assert line["merchant_product_id"]["field"] == "ID_PRODUCT" and line["quantity"] >= 1
    statuses = {o["lengow_status"] for o in orders}
    assert {"closed", "new", "waiting_shipment"} <= statuses
    # Amazon orders not yet accepted carry no package (no address yet)
    assert all(
        not o["packages"]
        for o in orders
        if o["marketplace"].startswith("amazon")
        and o["lengow_status"] in ("new", "waiting_acceptance")
    )


def test_seed_makes_the_data_deterministic():
    one = make_app().test_client()
    two = make_app().test_client()
    other = make_app(seed=8).test_client()
    ids = state(one)["accounts"][str(ACCOUNT)]["ids"]
    assert ids == state(two)["accounts"][str(ACCOUNT)]["ids"]
    assert ids != state(other)["accounts"][str(ACCOUNT)]["ids"]
    page_one = one.get("/v3.0/orders/?account_id=5622", headers={"Authorization": get_token(one)})
    page_two = two.get("/v3.0/orders/?account_id=5622", headers={"Authorization": get_token(two)})
    assert page_one.data == page_two.data


def test_merchant_order_id_is_visible_afterwards(client):
    token = get_token(client)
    auth = {"Authorization": token}
    order = client.get("/v3.0/orders/?account_id=5622", headers=auth).get_json()["results"][3]
    assert not order["merchant_order_id"]
    body = {
        "account_id": ACCOUNT,
        "marketplace": order["marketplace"],
        "marketplace_order_id": order["marketplace_order_id"],
        "merchant_order_id": ["MERCATO-42"],
    }
    response = client.patch("/v3.0/orders/moi/", json=body, headers=auth)
    assert response.status_code == 200
    assert response.get_json()["merchant_order_id"] == ["MERCATO-42"]

    again = client.get(
        "/v3.0/orders/",
        query_string={
            "account_id": ACCOUNT,
            "marketplace": order["marketplace"],
            "marketplace_order_id": order["marketplace_order_id"],
        },
        headers=auth,
    ).get_json()
    assert again["count"] == 1 and again["results"][0]["merchant_order_id"] == ["MERCATO-42"]
    by_moi = client.get(
        "/v3.0/orders/?account_id=5622&merchant_order_id=MERCATO-42", headers=auth
    ).get_json()
    assert [o["marketplace_order_id"] for o in by_moi["results"]] == [order["marketplace_order_id"]]

    unknown = dict(body, marketplace_order_id="nope")
    assert client.patch("/v3.0/orders/moi/", json=unknown, headers=auth).status_code == 404
    assert (
        client.patch(
            "/v3.0/orders/moi/", json=dict(body, account_id=6395), headers=auth
        ).status_code
        == 403
    )
    missing = {k: v for k, v in body.items() if k != "merchant_order_id"}
    assert client.patch("/v3.0/orders/moi/", json=missing, headers=auth).status_code == 400


def test_marketplaces(client):
    token = get_token(client)
    auth = {"Authorization": token}
    everything = client.get("/v3.0/marketplaces", headers=auth).get_json()
    assert {"amazon_fr", "cdiscount", "manomano_fr", "galeries_lafayette"} <= set(everything)
    gl = everything["galeries_lafayette"]
    assert gl["orders"]["status"]["new"] == ["STAGING"]
    assert gl["orders"]["actions"]["ship"]["status"] == ["waiting_shipment"]
    one = client.get("/v3.0/marketplaces/?marketplace=cdiscount", headers=auth).get_json()
    assert list(one) == ["cdiscount"]
    mine = client.get("/v3.0/marketplaces?account_id=5622", headers=auth).get_json()
    assert set(mine) == set(state(client)["accounts"]["5622"]["marketplaces"])
    assert client.get("/v3.0/marketplaces").status_code == 401


def test_actions(client):
    token = get_token(client)
    auth = {"Authorization": token}
    rows = client.get(
        "/v3.0/orders/?account_id=5622&lengow_status=waiting_shipment", headers=auth
    ).get_json()["results"]
    order = rows[0]
    action = {
        "account_id": ACCOUNT,
        "marketplace": order["marketplace"],
        "marketplace_order_id": order["marketplace_order_id"],
        "action_type": "ship",
        "tracking_number": "6A123",
        "carrier": "Colissimo",
    }
    created = client.post("/v3.0/orders/actions/", json=action, headers=auth)
    assert created.status_code == 201
    assert created.get_json()["queued"] is True and created.get_json()["processed"] is False
    shipped = client.get(
        "/v3.0/orders/",
        query_string={
            "account_id": ACCOUNT,
            "marketplace": order["marketplace"],
            "marketplace_order_id": order["marketplace_order_id"],
        },
        headers=auth,
    ).get_json()["results"][0]
    assert shipped["lengow_status"] == "shipped"
    assert shipped["packages"][0]["delivery"]["trackings"][0]["number"] == "6A123"
    again = client.post("/v3.0/orders/actions/", json=action, headers=auth)
    assert again.status_code == 400  # not from status shipped

    listed = client.get("/v3.0/orders/actions/?account_id=5622", headers=auth).get_json()
    assert listed["count"] == 1 and listed["results"][0]["queued"] is True
    client.post("/_sandbox/advance?seconds=60")
    listed = client.get("/v3.0/orders/actions/?account_id=5622", headers=auth).get_json()
    assert listed["results"][0]["processed"] is True and listed["results"][0]["queued"] is False
    assert client.get("/v3.0/orders/actions/", headers=auth).status_code == 400


# -- Letzshop ------------------------------------------------------------------------


def test_graphql_cursor_pagination(client):
    seen, after, pages = [], None, 0
    while True:
        response = graphql(client, {"first": 40, "after": after})
        assert response.status_code == 200, response.data
        connection = response.get_json()["data"]["orders"]
        seen.extend(edge["node"]["id"] for edge in connection["edges"])
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert pages == 7 and len(seen) == len(set(seen)) == 250
    assert state(client)["letzshop"]["count"] == 250

    node = graphql(client, {"first": 1}).get_json()["data"]["orders"]["edges"][0]["node"]
    assert {"id", "orderNumber", "status", "createdAt", "updatedAt", "customer"} <= set(node)
    assert {"subtotal", "shipping", "tax", "total", "currency"} <= set(node["totals"])

    shipped = graphql(client, {"status": ["SHIPPED", "DELIVERED"], "first": 100}).get_json()
    statuses = {e["node"]["status"] for e in shipped["data"]["orders"]["edges"]}
    assert statuses <= {"SHIPPED", "DELIVERED"} and statuses

    since = "2026-09-21T12:00:00Z"
    recent = graphql(client, {"since": since, "first": 100}).get_json()["data"]["orders"]
    assert 0 < len(recent["edges"]) < 100
    assert all(e["node"]["updatedAt"] >= "2026-09-21T12:00:00" for e in recent["edges"])

    literal = graphql(client, query="{ orders(first: 5) { edges { node { id } } } }")
    assert len(literal.get_json()["data"]["orders"]["edges"]) == 5

    assert graphql(client, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert graphql(client, headers={}).status_code == 401
    bad = graphql(client, {"status": ["SOLD"]})
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["message"]
    assert graphql(client, query="{ products { id } }").status_code == 400


# -- time ----------------------------------------------------------------------------


def test_time_advance_changes_statuses_and_adds_orders(client):
    token = get_token(client)
    before = state(client)
    before_rows = {}
    for page in (1, 2, 3):
        for o in client.get(
            f"/v3.0/orders/?account_id=5622&page={page}", headers={"Authorization": token}
        ).get_json()["results"]:
            before_rows[o["marketplace_order_id"]] = o

    advanced = client.post("/_sandbox/advance", json={"seconds": 3600}).get_json()
    assert advanced["arrived"] > 0 and advanced["transitions"] > 0
    after = state(client)
    assert after["now_ts"] == before["now_ts"] + 3600
    assert after["accounts"]["5622"]["count"] > before["accounts"]["5622"]["count"]
    assert after["letzshop"]["count"] > before["letzshop"]["count"]

    token = get_token(client)  # the first one lived its hour
    changed, count = read_all(client, token, updated_from=before["now"])
    assert count > 0
    rows = {}
    for page in range(1, count // 100 + 2):
        response = client.get(
            "/v3.0/orders/",
            query_string={"account_id": ACCOUNT, "updated_from": before["now"], "page": page},
            headers={"Authorization": token},
        )
        for o in response.get_json()["results"]:
            rows[o["marketplace_order_id"]] = o
    moved = [i for i in rows if i in before_rows]
    new = [i for i in rows if i not in before_rows]
    assert new and moved
    assert any(rows[i]["lengow_status"] != before_rows[i]["lengow_status"] for i in moved)
    assert all(rows[i]["updated_at"] > before_rows[i]["updated_at"] for i in moved)
    assert client.post("/_sandbox/advance?seconds=-1").status_code == 400


def test_orders_can_be_injected_and_errors_are_json(client):
    before = state(client)["accounts"]["6395"]["count"]
    added = client.post("/_sandbox/orders", json={"account": 6395, "count": 3})
    assert added.status_code == 201 and len(added.get_json()["added"]) == 3
    after = state(client)["accounts"]["6395"]
    assert after["count"] == before + 3 and added.get_json()["added"][0] in after["ids"]
    letzshop = client.post("/_sandbox/orders", json={"account": "letzshop", "count": 1})
    assert letzshop.status_code == 201
    assert client.post("/_sandbox/orders", json={"account": 1}).status_code == 404

    # A given order (the digital demo's): its lines and its first status as asked.
    lines = [{"sku": "cw-1", "title": "Space Game", "qty": 2, "unit": 9.5}]
    made = client.post(
        "/_sandbox/orders",
        json={"account": ACCOUNT, "lines": lines, "status": "waiting_shipment"},
    )
    assert made.status_code == 201, made.data
    (ext_id,) = made.get_json()["added"]
    token = get_token(client)
    found = client.get(
        "/v3.0/orders/",
        query_string={"account_id": ACCOUNT, "marketplace_order_id": ext_id},
        headers={"Authorization": token},
    ).get_json()["results"]
    (order,) = [o for o in found if o["marketplace_order_id"] == ext_id]
    assert order["lengow_status"] == "waiting_shipment"
    (line,) = order["packages"][0]["cart"]
    assert (line["merchant_product_id"]["id"], line["quantity"]) == ("cw-1", 2)
    bad = client.post("/_sandbox/orders", json={"account": ACCOUNT, "status": "lost"})
    assert bad.status_code == 400
    assert client.post("/_sandbox/orders", json={"lines": [{"qty": 1}]}).status_code == 400

    missing = client.get("/v3.0/nothing")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == 404
    wrong_method = client.delete("/v3.0/orders/")
    assert wrong_method.status_code == 405 and wrong_method.get_json()["error"]["code"] == 405


def test_clock_from_config():
    now = [START]
    client = make_app(clock=lambda: now[0]).test_client()
    token = get_token(client)
    now[0] += 4000
    assert (
        client.get("/v3.0/orders/?account_id=5622", headers={"Authorization": token}).status_code
        == 401
    )
    assert state(client)["events"]["arrived"] > 0


def test_reset_restores_the_seeded_world(client):
    ids = state(client)["accounts"]["5622"]["ids"]
    client.post("/_sandbox/advance?seconds=600")
    assert state(client)["accounts"]["5622"]["ids"] != ids
    client.post("/_sandbox/reset")
    assert state(client)["accounts"]["5622"]["ids"] == ids


# -- faults --------------------------------------------------------------------------


def test_rate_limit_fault_answers_429_with_retry_after(client):
    token = get_token(client)
    assert set_faults(client, rate_limit={"every": 3, "retry_after": 2}) == {
        "rate_limit": {"every": 3, "retry_after": 2}
    }
    codes = []
    for _ in range(6):
        response = client.get("/v3.0/orders/?account_id=5622", headers={"Authorization": token})
        codes.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "2"
            assert response.get_json()["error"]["code"] == 429
    assert codes.count(429) == 2
    limited = graphql(client)
    limited = limited if limited.status_code == 429 else graphql(client)
    limited = limited if limited.status_code == 429 else graphql(client)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert state(client)["counters"]["rate_limited"] == 3


def test_server_error_fault(client):
    token = get_token(client)
    set_faults(client, server_error={"every": 2})
    codes = [
        client.get("/v3.0/orders/?account_id=5622", headers={"Authorization": token}).status_code
        for _ in range(4)
    ]
    assert codes.count(500) == 2 and codes.count(200) == 2
    set_faults(client, server_error={"every": 1, "status": 540})
    response = client.get("/v3.0/orders/?account_id=5622", headers={"Authorization": token})
    assert response.status_code == 540 and response.get_json()["error"]["code"] == 540
    set_faults(client, server_error=None)
    assert client.get("/v3.0/marketplaces", headers={"Authorization": token}).status_code == 200


def test_slow_fault(client):
    token = get_token(client)
    set_faults(client, slow={"seconds": 0.3, "every": 1})
    started = time.monotonic()
    response = client.get("/v3.0/orders/?account_id=5622", headers={"Authorization": token})
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3
    assert state(client)["counters"]["slowed"] == 1
    client.delete("/_sandbox/faults")
    started = time.monotonic()
    client.get("/v3.0/orders/?account_id=5622", headers={"Authorization": token})
    assert time.monotonic() - started < 0.3


def test_token_expiring_early(client):
    set_faults(client, token_ttl=5)
    response = client.post(
        "/access/get_token",
        data={"access_token": "sandbox-access-5622", "secret": "sandbox-secret-5622"},
    )
    body = response.get_json()
    assert body["expire_at"] == "2026-09-21T15:13:20Z"  # still announces an hour
    auth = {"Authorization": body["token"]}
    assert client.get("/v3.0/orders/?account_id=5622", headers=auth).status_code == 200
    client.post("/_sandbox/advance?seconds=6")
    expired = client.get("/v3.0/orders/?account_id=5622", headers=auth)
    assert expired.status_code == 401
    assert expired.get_json() == {
        "error": {"code": 401, "message": "Unauthorized access: token expired"}
    }
    fresh = get_token(client)
    ok = client.get("/v3.0/orders/?account_id=5622", headers={"Authorization": fresh})
    assert ok.status_code == 200
    client.post("/_sandbox/tokens/expire")
    assert (
        client.get("/v3.0/orders/?account_id=5622", headers={"Authorization": fresh}).status_code
        == 401
    )


def test_order_moves_across_a_page_boundary(client):
    token = get_token(client)
    expected = set(state(client)["accounts"]["5622"]["ids"])
    set_faults(client, move_on_page=2)

    # Default ordering (order date): a late order lands on page 2 after it was read and
    # pushes page 2's last order onto page 3, where the reader sees it a second time.
    ids, _count = read_all(client, token)
    now_ids = set(state(client)["accounts"]["5622"]["ids"])
    assert [i for i, n in Counter(ids).items() if n > 1]
    assert now_ids - set(ids)  # the late order was never seen
    assert expected <= now_ids

    # ordering=updated_at: page 2's first order changes status and jumps to the end; the
    # order after page 2 slides onto page 2, already read: skipped by this reader.
    set_faults(client, move_on_page=None)
    baseline, _ = read_all(client, token, ordering="updated_at")
    set_faults(client, move_on_page=2)
    moved, _ = read_all(client, token, ordering="updated_at")
    assert baseline[200] not in moved[:200] or Counter(moved).most_common(1)[0][1] > 1
    assert set(baseline) - set(moved)  # an order present all along was never seen
    assert state(client)["counters"]["moved"] == 2

    # Without the fault every order is read exactly once again.
    set_faults(client, move_on_page=None)
    ids, count = read_all(client, token)
    assert len(ids) == len(set(ids)) == count


def test_graphql_order_moves_across_a_page_boundary(client):
    set_faults(client, move_on_page=2)
    seen, after = [], None
    while True:
        connection = graphql(client, {"first": 50, "after": after}).get_json()["data"]["orders"]
        seen.extend(e["node"]["orderNumber"] for e in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    everything = set(state(client)["letzshop"]["ids"])
    assert everything - set(seen)  # skipped: slid back onto page 2 after it was read
    assert len(seen) != len(set(seen))  # page 2's first order came again at the end


def test_fault_switch_api(client):
    assert client.get("/_sandbox/faults").get_json() == {"faults": {}}
    assert client.post("/_sandbox/faults", json={"nope": 1}).status_code == 400
    assert client.post("/_sandbox/faults", json={"rate_limit": {"every": 0}}).status_code == 400
    faults = set_faults(client, presets="429,move", slow={"seconds": 0.1})
    assert set(faults) == {"rate_limit", "move_on_page", "slow"}
    assert set(set_faults(client, clear=True, token_ttl=5)) == {"token_ttl"}
    assert client.delete("/_sandbox/faults").get_json() == {"faults": {}}

    assert set(parse_faults("429,500,slow,expire,move")) == {
        "rate_limit",
        "server_error",
        "slow",
        "token_ttl",
        "move_on_page",
    }
    assert parse_faults("none") == {}
    with pytest.raises(FaultError):
        parse_faults("teapot")
    started = make_app(faults="expire").test_client()
    assert state(started)["faults"] == {"token_ttl": 60}


# -- serving -------------------------------------------------------------------------


def test_cli_serve(monkeypatch):
    captured = {}

    class FakeServer:
        port = 5050

        def serve_forever(self):
            raise KeyboardInterrupt

        def server_close(self):
            captured["closed"] = True

    def fake_make_server(host, port, app, threaded):
        captured.update(host=host, port=port, app=app, threaded=threaded)
        return FakeServer()

    monkeypatch.setattr("werkzeug.serving.make_server", fake_make_server)
    runner = CliRunner()
    result = runner.invoke(
        sandbox_cli, ["serve", "--orders", "20", "--faults", "429,move", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert captured["host"] == "127.0.0.1" and captured["port"] == 5050
    assert captured["threaded"] is True and captured["closed"]
    assert "sandbox-access-5622" in result.output and "sandbox-letzshop-token" in result.output
    sandbox = captured["app"].extensions["sandbox"]
    assert set(sandbox.faults) == {"rate_limit", "move_on_page"}

    bad = runner.invoke(sandbox_cli, ["serve", "--faults", "teapot"])
    assert bad.exit_code == 2 and "teapot" in bad.output


def test_real_threaded_server():
    app = make_app(orders=300, realtime=True, start=None)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = serve_in_thread(server)
    base = f"http://127.0.0.1:{server.port}"
    try:
        token = requests.post(
            f"{base}/access/get_token",
            data={"access_token": "sandbox-access-6395", "secret": "sandbox-secret-6395"},
            timeout=10,
        ).json()["token"]
        results: dict[int, list[str]] = {}

        def fetch(page):
            response = requests.get(
                f"{base}/v3.0/orders/",
                params={"account_id": 6395, "page": page, "page_size": 100},
                headers={"Authorization": token},
                timeout=10,
            )
            response.raise_for_status()
            results[page] = [o["marketplace_order_id"] for o in response.json()["results"]]

        threads = [threading.Thread(target=fetch, args=(p,)) for p in (1, 2, 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(len(v) for v in results.values()) == [100, 100, 100]
        assert len({i for v in results.values() for i in v}) == 300

        requests.post(f"{base}/_sandbox/faults", json={"slow": {"seconds": 0.2}}, timeout=10)
        started = time.monotonic()
        slow = requests.post(
            f"{base}/graphql",
            json={"query": ORDERS_QUERY, "variables": {"first": 10}},
            headers=LETZSHOP_AUTH,
            timeout=10,
        )
        assert slow.status_code == 200 and time.monotonic() - started >= 0.2
        assert len(slow.json()["data"]["orders"]["edges"]) == 10
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_throughput_of_100_pages_of_100_orders():
    client = make_app(orders=10_000, accounts=[ACCOUNT], history_days=6).test_client()
    token = get_token(client)
    for label in ("cold", "warm"):
        started = time.perf_counter()
        ids, count = read_all(client, token)
        elapsed = time.perf_counter() - started
        assert count == 10_000 == len(set(ids))
        print(
            f"sandbox {label}: 100 pages x 100 orders in {elapsed:.2f}s = {count / elapsed:,.0f}/s"
        )

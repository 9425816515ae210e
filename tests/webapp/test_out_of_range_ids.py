"""Ids beyond the id columns' range are unknown ids (404), never a database error (500).

PostgreSQL refuses to compare an ``integer`` column with 2**31 or more, and SQLite's driver
cannot bind 2**63: both used to answer 500 on every id route.  The test walks every
registered rule with an ``<int:...>`` part, as an admin (who passes every permission check
and reaches the lookup) and as a store user on the store's own routes, web and API.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from tests.webapp.conftest import csrf_from
from webapp.extensions import db
from webapp.ids import MAX_ID, NO_ROW, coerce_id, id_arg
from webapp.models import ApiToken

BEYOND = (2**31, 2**63, 10**30)


def _id_rules(app):
    for rule in app.url_map.iter_rules():
        if any(isinstance(c, IntegerConverter) for c in rule._converters.values()):
            yield rule


def _values(rule, number: int) -> dict:
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter):
            values[name] = number
        elif name == "code":
            values[name] = "acme"
        elif name == "connector":
            values[name] = "letzshop"
        elif name == "cause":
            values[name] = "missing_title"
        else:
            raise AssertionError(f"fill <{name}> of {rule.rule} in this test")
    return values


def _url(app, rule, values) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def _ask(client, rule, url, *, token=None, csrf=None):
    for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
        if rule.rule.startswith("/api/"):
            response = client.open(
                url,
                method=method,
                headers={"Authorization": f"Bearer {token}"},
                json=None if method == "GET" else {},
            )
        else:
            data = None if method == "GET" else {"csrf_token": csrf}
            response = client.open(url, method=method, data=data)
        yield method, response


def test_every_id_route_answers_404_for_an_id_beyond_the_columns_range(
    app, admin_user, admin_client, store_user, store_client
):
    _, admin_token = ApiToken.issue(admin_user, "admin")
    _, store_token = ApiToken.issue(store_user, "shop")
    db.session.commit()
    admin_csrf = csrf_from(admin_client.get("/admin/marketplace").text)
    store_csrf = csrf_from(store_client.get("/store/acme/marketplace").text)
    checked = []
    for rule in _id_rules(app):
        admin_only = rule.endpoint.startswith("admin.") or "/admin/" in rule.rule
        askers = [(admin_client, admin_token, admin_csrf)]
        if not admin_only:
            askers.append((store_client, store_token, store_csrf))
        for number in BEYOND:
            url = _url(app, rule, _values(rule, number))
            for client, token, csrf in askers:
                for method, response in _ask(client, rule, url, token=token, csrf=csrf):
                    assert response.status_code == 404, (method, url, response.status_code)
                    if rule.rule.startswith("/api/"):
                        assert response.get_json()["error"]["status"] == 404
                    checked.append((method, rule.rule))
    rules = {r for _, r in checked}
    assert len(rules) >= 20, rules  # the walk reached the id routes, API and pages
    assert any(r.startswith("/api/") for r in rules) and any("/store/" in r for r in rules)


def test_the_largest_id_still_reaches_the_route(app, store_client):
    """MAX_ID itself is a valid id: the route runs and finds nothing (404 from the view)."""
    assert store_client.get(f"/store/acme/orders/{MAX_ID}").status_code == 404
    assert store_client.get(f"/store/acme/orders/{MAX_ID + 1}").status_code == 404
    with app.test_request_context():
        from flask import url_for

        assert url_for("orders.order", code="acme", order_id=MAX_ID).endswith(str(MAX_ID))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12),
        (" 7 ", 7),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), NO_ROW),  # a filter on it matches nothing
        ("9" * 40, NO_ROW),
        ("²", None),  # str.isdigit() says yes, int() says no
        ("٣", None),
        ("-1", None),
        ("", None),
        (None, None),
        ("1e3", None),
    ],
)
def test_id_arg_takes_ascii_ids_within_the_range(raw, expected):
    assert id_arg(raw) == expected


def test_coerce_id_refuses_what_no_query_could_take():
    assert coerce_id("5") == 5 and coerce_id(5) == 5
    for bad in (str(MAX_ID + 1), MAX_ID + 1, -1, "0", "x", "²", None, True):
        with pytest.raises(ValueError):
            coerce_id(bad)


# Query-string parameters that pages read as ids or page numbers.
QUERY_IDS = ("page", "account", "account_id", "store_id", "store", "feed_id", "q")


def test_every_page_takes_out_of_range_and_odd_numbers_in_its_query_string(
    app, admin_client, store_client, store_user
):
    """Filters and page numbers beyond the range (or digits int() refuses, or a NUL no text
    column holds) never reach the database as such: the page answers (a filter on an unknown
    id shows nothing; a NUL is a 400), no 500."""
    checked = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith("/api/") or rule.endpoint == "static":
            continue
        if set(rule.arguments) - {"code", "connector"}:
            continue  # id routes: the test above
        values = {a: "acme" if a == "code" else "letzshop" for a in rule.arguments}
        url = _url(app, rule, values)
        admin_only = rule.endpoint.startswith("admin.") or "/admin/" in rule.rule
        clients = [admin_client] if admin_only else [admin_client, store_client]
        for value in (str(2**31), str(10**20), "²", "#" + str(2**31), "a%00b"):
            query = "&".join(f"{name}={value}" for name in QUERY_IDS)
            for client in clients:
                for headers in ({}, {"HX-Request": "true"}):
                    response = client.get(f"{url}?{query}", headers=headers)
                    assert response.status_code < 500, (url, value, response.status_code)
                    checked.add(rule.rule)
    assert {"/store/<code>/orders", "/admin/imports", "/admin/feed-executions"} <= checked


def test_a_filter_on_an_id_beyond_the_range_shows_nothing(app, store, store_client):
    from tests.webapp.test_orders_pages import make_account, make_order

    account = make_account(store)
    make_order(account, "AMZ-BEYOND")
    db.session.commit()
    assert "AMZ-BEYOND" in store_client.get(f"/store/acme/orders?account={account.id}").text
    beyond = store_client.get(f"/store/acme/orders?account={2**31 + account.id}")
    assert beyond.status_code == 200 and "AMZ-BEYOND" not in beyond.text
    # "#<n>" searches Mercato's order id: beyond the range it is no id, only text.
    assert store_client.get(f"/store/acme/orders?q=%23{2**40}").status_code == 200


def test_forms_carrying_ids_beyond_the_range_are_refused_not_crashed(
    app, store, admin_client, store_client
):
    page = admin_client.get("/admin/marketplace")
    response = admin_client.post(
        "/admin/marketplace",
        data={
            "csrf_token": csrf_from(page.text),
            "store_id": str(2**31),
            "source_url": "https://feeds.example.com/f.csv",
            "language": "fr",
            "batch_size": "1000",
        },
    )
    assert response.status_code == 422
    assert admin_client.get(f"/admin/marketplace?store_id={2**63}").status_code == 200

    csrf = csrf_from(store_client.get("/store/acme/products").text)
    response = store_client.post(
        "/store/acme/products/publish",
        data={"csrf_token": csrf, "product_id": [str(2**31), "²"]},
    )
    assert response.status_code == 302  # "select at least one product", nothing published


def test_a_schedule_interval_in_digits_int_refuses_is_an_inline_error(app, store, store_client):
    from webapp.feeds.defaults import ensure_store_feeds

    feed = ensure_store_feeds(store)[0]
    db.session.commit()
    url = f"/store/acme/feeds/{feed.id}/schedule"
    csrf = csrf_from(store_client.get(f"/store/acme/feeds/{feed.id}").text)
    response = store_client.post(
        url, data={"mode": "every", "every_minutes": "²", "csrf_token": csrf}
    )
    assert response.status_code == 422 and "whole number of minutes" in response.text

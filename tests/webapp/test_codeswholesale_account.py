"""A CodesWholesale account, like any connector's: added from the accounts page or the CLI,
its client secret encrypted and never shown, its connection tested against the sandbox fake,
its supplier-catalogue feed listed and run from the feeds page."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from tests.feeds.conftest import runs_of, work
from tests.sandbox_server import served_sandbox
from tests.webapp.conftest import csrf_from
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import Account, Feed, MarketplaceProduct

HX = {"HX-Request": "true"}
CLIENT_ID, SECRET = "sandbox-cw-client", "sandbox-cw-secret"


@pytest.fixture
def sandbox(app) -> Iterator[str]:
    with served_sandbox(1, SANDBOX_CW_PRODUCTS=30) as url:
        app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
        yield url


def test_added_from_the_page_secret_encrypted_and_never_shown(app, store_client, sandbox):
    form = store_client.get("/store/acme/accounts/new/codeswholesale")
    assert form.status_code == 200
    for name in ("setting_client_id", "setting_client_secret", "setting_base_url", "name"):
        assert f'name="{name}"' in form.text
    assert 'type="password"' in form.text and "https://api.codeswholesale.com" in form.text
    assert "https://sandbox.codeswholesale.com" in form.text  # named in the base URL's help
    created = store_client.post(
        "/store/acme/accounts/new/codeswholesale",
        data={
            "csrf_token": csrf_from(form.text),
            "name": "CodesWholesale",
            "setting_client_id": CLIENT_ID,
            "setting_client_secret": SECRET,
            "setting_base_url": sandbox,
            "setting_api_version": "v3",
        },
    )
    assert created.status_code == 302, created.text
    account = db.session.scalars(select(Account).where(Account.connector == "codeswholesale")).one()
    assert account.secrets() == {"client_secret": SECRET}
    assert account.settings["client_id"] == CLIENT_ID and account.settings["api_version"] == "v3"
    assert SECRET not in account.secrets_encrypted
    listing = store_client.get(created.location).text
    edit = store_client.get(f"/store/acme/accounts/{account.id}/edit").text
    assert "client_secret: ********" in listing
    for body in (form.text, listing, edit):
        assert SECRET not in body

    csrf = csrf_from(listing)
    ok = store_client.post(
        f"/store/acme/accounts/{account.id}/test", data={"csrf_token": csrf}, headers=HX
    )
    assert 'data-ok="yes"' in ok.text and "Sandbox Digital" in ok.text

    # Its feed: the supplier catalogue, run from the feeds page like any feed.
    feed = db.session.scalars(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "supplier_catalog")
    ).one()
    assert feed.kind == "supplier_catalog" and feed.enabled
    feeds = store_client.get("/store/acme/feeds").text
    row = feeds[feeds.index(f'id="feed-{feed.id}"') :]
    assert "Sync supplier catalog" in row[: row.index("</tr>")]
    assert "not built" not in row[: row.index("</tr>")]


def test_a_wrong_secret_fails_the_connection_test_masked(app, store_client, store, sandbox):
    bad = create_account(
        store,
        "codeswholesale",
        "CW bad",
        settings={"client_id": CLIENT_ID, "base_url": sandbox},
        secrets={"client_secret": "not-the-secret-xyz"},
    )
    page = store_client.get("/store/acme/accounts").text
    failed = store_client.post(
        f"/store/acme/accounts/{bad.id}/test", data={"csrf_token": csrf_from(page)}, headers=HX
    )
    assert 'data-ok="no"' in failed.text and "401" in failed.text
    assert "not-the-secret-xyz" not in failed.text


def test_added_from_the_cli_with_the_secret_on_stdin(app, store):
    result = app.test_cli_runner().invoke(
        args=[
            "accounts",
            "add",
            "--store",
            "acme",
            "--connector",
            "codeswholesale",
            "--name",
            "CodesWholesale",
            "--setting",
            f"client_id={CLIENT_ID}",
            "--setting",
            "base_url=sandbox",
            "--secrets-from-stdin",
        ],
        input=json.dumps({"client_secret": "cli-PLAIN-secret"}),
    )
    assert result.exit_code == 0, result.output
    account = db.session.get(Account, int(result.output.strip().splitlines()[-1]))
    assert account.connector == "codeswholesale"
    assert account.settings["base_url"] == "https://sandbox.codeswholesale.com"
    assert account.secrets() == {"client_secret": "cli-PLAIN-secret"}
    raw = db.session.execute(text("SELECT secrets_encrypted FROM accounts")).scalar()
    assert "PLAIN" not in raw and "PLAIN" not in result.output


def test_the_feed_runs_now_from_the_feeds_page_in_a_worker_and_stays_in_its_store(
    app, store_client, other_client, store, sandbox
):
    account = create_account(
        store,
        "codeswholesale",
        "CodesWholesale",
        settings={"client_id": CLIENT_ID, "base_url": sandbox, "api_version": "v3"},
        secrets={"client_secret": SECRET},
        live=True,
    )
    feed = db.session.scalars(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "supplier_catalog")
    ).one()
    token = csrf_from(store_client.get("/store/acme/feeds").text)
    started = store_client.post(
        f"/store/acme/feeds/{feed.id}/run", headers={**HX, "X-CSRFToken": token}
    )
    assert started.status_code == 200 and "started" in started.text
    work(app)  # a real RQ worker drains the imports queue
    run = runs_of(feed.id)[-1]
    assert run.status == "completed" and run.imported_count == 30, run.error_message
    ours = db.session.scalars(
        select(MarketplaceProduct).where(MarketplaceProduct.marketplace == "codeswholesale")
    ).all()
    assert len(ours) == 30 and {p.store_id for p in ours} == {store.id}
    # The run's page is the store's; another store gets a 404 for it and for the feed.
    page = store_client.get(f"/store/acme/integration/executions/{run.id}")
    assert page.status_code == 200 and "Sync supplier catalog" in page.text
    assert other_client.get(f"/store/acme/integration/executions/{run.id}").status_code in (
        403,
        404,
    )
    assert other_client.get(f"/store/globex/integration/executions/{run.id}").status_code == 404
    assert other_client.get(f"/store/globex/feeds/{feed.id}").status_code == 404

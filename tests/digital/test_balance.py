"""The supplier account's feed: its balance read with an alert below the store's threshold,
its pre-ordered keys checked again."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
from sqlalchemy import select

from tests.digital.helpers import cw, supplier_account
from tests.sandbox_server import served_sandbox
from webapp.extensions import db
from webapp.models import Feed, Message
from webapp.models import runs as R


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with served_sandbox(1, SANDBOX_CW_PRODUCTS=10) as url:
        yield url


@pytest.fixture
def url(sandbox):
    requests.post(f"{sandbox}/_sandbox/reset", timeout=5)
    return sandbox


def run_keys_feed(account):
    from webapp.runs.lifecycle import run_feed

    feed = db.session.scalars(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "supplier_keys")
    ).one()
    assert feed.enabled and feed.schedule.interval_seconds == 3600
    return run_feed(feed.id).run


def test_the_balance_is_read_and_an_alert_raised_below_the_threshold(app, store, url):
    account = supplier_account(app, store, url)
    balance = cw(url)["balance"]
    account.settings = {**account.settings, "balance_alert_below": str(float(balance) + 1)}
    db.session.commit()
    run = run_keys_feed(account)
    assert run.status == R.COMPLETED_WITH_ERRORS
    read = db.session.scalars(select(Message).where(Message.error_type == "supplier_balance")).one()
    assert read.severity == "info"
    assert Decimal(read.row_data["total_to_use"]) == Decimal(balance)
    (alert,) = db.session.scalars(
        select(Message).where(Message.error_type == "supplier_balance_low")
    ).all()
    assert alert.severity == "error" and alert.subject_id == account.id
    assert f"{read.row_data['total_to_use']} EUR to spend" in alert.error_message
    # Read again: still one entry; the store lowers its threshold: resolved.
    run_keys_feed(account)
    assert db.session.query(Message).filter_by(error_type="supplier_balance_low").count() == 1
    account.settings = {**account.settings, "balance_alert_below": "5"}
    db.session.commit()
    assert run_keys_feed(account).status == R.COMPLETED
    db.session.expire_all()
    assert db.session.get(Message, alert.id).resolved_at is not None


def test_a_bad_threshold_is_refused(app):
    from connectors import registry

    cls = registry.get("codeswholesale")
    values = {"client_id": "c", "client_secret": "s", "base_url": "sandbox"}
    assert (
        cls.validate_settings({**values, "balance_alert_below": "50,5"})["balance_alert_below"]
        == "50.5"
    )
    with pytest.raises(ValueError, match="amount such as 50"):
        cls.validate_settings({**values, "balance_alert_below": "lots"})
    with pytest.raises(ValueError, match="amount such as 50"):
        cls.validate_settings({**values, "balance_alert_below": "-3"})


def test_the_success_rate_and_the_codeswholesale_health_check_report_real_values(
    app, store, store_user, url
):
    from tests.digital.helpers import book, channel_account, pool_keys, product, run_for, unified
    from webapp.digital import fulfil
    from webapp.models import ApiToken
    from webapp.models.tokens import SCOPE_OPERATOR
    from webapp.monitoring import figures

    assert figures.compute().digital_fulfillment_success_rate is None  # no attempt yet
    supplier = supplier_account(app, store, url)
    run_keys_feed(supplier)  # (before any order has all its keys: e-mail is not built here)
    account = channel_account(store)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    pool_keys(store, "OWN-KEY", 3)
    ids = book(account, [unified(f"S-{n}", [("OWN-KEY", 1)]) for n in range(4)])
    fulfil.assign_keys(run_for(account), ids)  # three served, one waits in the inbox
    assert figures.compute().digital_fulfillment_success_rate == 0.75

    _row, token = ApiToken.issue(store_user, "prometheus", SCOPE_OPERATOR)
    db.session.commit()
    answer = app.test_client().get(
        "/health/marketplace-integrations", headers={"Authorization": f"Bearer {token}"}
    )
    body = answer.get_json()
    assert body["platform"]["digital_fulfillment_success_rate"] == 0.75
    (cw_health,) = body["codeswholesale"]
    assert cw_health["account_id"] == supplier.id and cw_health["api_status"] == "ok"
    assert Decimal(cw_health["balance"]) == Decimal(cw(url)["balance"])
    assert cw_health["currency"] == "EUR" and cw_health["balance_alert"] is False
    assert cw_health["catalog_sync"] == "pending" and cw_health["purchases_failing"] == 0
    metrics = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert "digital_fulfillment_success_rate 0.75" in metrics.text

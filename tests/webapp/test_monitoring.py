"""Operators' monitoring: /health/marketplace-integrations, /metrics and the admin page.

Figures come from real runs in the database and real RQ queues in Redis; thresholds are the
seed's (order import lag 15 min, error rate 5 %).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from webapp.accounts import create_account
from webapp.extensions import db, queue
from webapp.models import ApiToken, Feed, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.tokens import SCOPE_OPERATOR

ENDPOINTS = ("/health/marketplace-integrations", "/metrics")


def lengow(store, name="Lengow Menzzo", created_ago=timedelta(0)):
    account = create_account(
        store,
        "lengow",
        name,
        settings={"account_id": "5622"},
        secrets={"access_token": "tok-abc", "secret": "sec-def"},
    )
    account.created_at = utcnow() - created_ago
    for feed in Feed.query.filter_by(account_id=account.id):
        feed.created_at = account.created_at
    db.session.commit()
    return account


def orders_feed(account) -> Feed:
    return Feed.query.filter_by(account_id=account.id, kind="import_orders").one()


def order_run(account, status=R.COMPLETED, ago=timedelta(minutes=1)):
    when = utcnow() - ago
    run = Run(
        kind="order_import",
        store_id=account.store_id,
        account_id=account.id,
        feed_id=orders_feed(account).id,
        trigger="schedule",
        status=status,
        created_at=when,
        started_at=when,
        completed_at=when,
    )
    db.session.add(run)
    db.session.commit()
    return run


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def operator_token(app, store_user):
    _row, token = ApiToken.issue(store_user, "prometheus", SCOPE_OPERATOR)
    db.session.commit()
    return token


# Who may read ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_anonymous_gets_401_with_a_bearer_challenge(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_store_user_session_gets_404(store_client, path):
    assert store_client.get(path).status_code == 404


@pytest.mark.parametrize("path", ENDPOINTS)
def test_admin_session_and_operator_token_may_read(app, admin_client, operator_token, path):
    assert admin_client.get(path).status_code == 200
    assert app.test_client().get(path, headers=bearer(operator_token)).status_code == 200


def test_an_api_token_of_a_store_user_is_refused(app, store_user):
    _row, token = ApiToken.issue(store_user, "api")
    db.session.commit()
    for path in ENDPOINTS:
        assert app.test_client().get(path, headers=bearer(token)).status_code == 403


def test_a_revoked_operator_token_is_refused(app, store_user, operator_token):
    row = db.session.query(ApiToken).one()
    row.revoked_at = utcnow()
    db.session.commit()
    assert app.test_client().get("/metrics", headers=bearer(operator_token)).status_code == 403


def test_an_operator_token_does_not_open_the_api(app, store, operator_token):
    response = app.test_client().get(
        "/api/v1/store/marketplace/imports", headers=bearer(operator_token)
    )
    assert response.status_code == 403
    assert "operator token" in response.get_json()["error"]["message"]


# Health ------------------------------------------------------------------------------


def test_health_is_ok_when_every_account_imported_orders_recently(admin_client, store):
    account = lengow(store)
    order_run(account, ago=timedelta(minutes=4))
    response = admin_client.get("/health/marketplace-integrations")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["alerts"] == []
    flow = body["stores"][0]["accounts"][0]["feeds"]["import_orders"]
    assert flow["status"] == "ok"
    assert 230 <= flow["lag_seconds"] <= 250
    assert flow["threshold_seconds"] == 900
    assert body["stores"][0]["accounts"][0]["mode"] == "test"


def test_an_order_import_quiet_for_20_minutes_answers_503(admin_client, store):
    quiet = lengow(store, "Lengow Cotecosy")
    order_run(quiet, ago=timedelta(minutes=20))
    order_run(quiet, status=R.FAILED, ago=timedelta(minutes=2))  # failures do not count
    fine = lengow(store, "Mosaikasa")
    order_run(fine, ago=timedelta(minutes=3))
    response = admin_client.get("/health/marketplace-integrations")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "alert"
    [alert] = [a for a in body["alerts"] if a["kind"] == "gone_quiet"]
    assert alert["account_id"] == quiet.id
    assert "Lengow Cotecosy" in alert["message"] and "20 min" in alert["message"]
    flows = {a["name"]: a["feeds"]["import_orders"] for a in body["stores"][0]["accounts"]}
    assert flows["Lengow Cotecosy"]["status"] == "late"
    assert flows["Lengow Cotecosy"]["last_run_status"] == R.FAILED
    assert flows["Mosaikasa"]["status"] == "ok"


def test_a_new_account_is_pending_until_its_threshold_then_never(admin_client, store):
    lengow(store, "Brand new")
    body = admin_client.get("/health/marketplace-integrations").get_json()
    feeds = body["stores"][0]["accounts"][0]["feeds"]
    assert feeds["import_orders"]["status"] == "pending"
    assert feeds["recheck_parked_orders"]["threshold_seconds"] == 3 * 3600
    assert body["status"] == "ok"
    lengow(store, "Added an hour ago", created_ago=timedelta(hours=1))
    response = admin_client.get("/health/marketplace-integrations")
    assert response.status_code == 503
    [alert] = response.get_json()["alerts"]  # the hourly recheck has 3 h before it is late
    assert alert["flow"] == "import_orders" and "since the feed was set up" in alert["message"]


def test_retired_accounts_are_not_watched(admin_client, store):
    account = lengow(store, created_ago=timedelta(hours=2))
    account.retire()
    db.session.commit()
    response = admin_client.get("/health/marketplace-integrations")
    assert response.status_code == 200
    assert response.get_json()["stores"] == []


def test_health_filters_by_store(admin_client, store, other_store):
    lengow(store, created_ago=timedelta(hours=2))  # an alert in acme only
    order_run(lengow(other_store, "Globex Lengow"))
    response = admin_client.get("/health/marketplace-integrations?store=globex")
    assert response.status_code == 200
    assert [s["store"] for s in response.get_json()["stores"]] == ["globex"]
    assert admin_client.get("/health/marketplace-integrations?store=acme").status_code == 503
    assert admin_client.get("/health/marketplace-integrations?store=nope").status_code == 404


def test_an_error_rate_over_5_percent_in_the_last_hour_alerts(admin_client, store):
    account = lengow(store)
    for _ in range(9):
        order_run(account, ago=timedelta(minutes=5))
    order_run(account, status=R.ABANDONED, ago=timedelta(minutes=5))
    order_run(account, status=R.FAILED, ago=timedelta(hours=3))  # outside the window
    response = admin_client.get("/health/marketplace-integrations")
    assert response.status_code == 503
    body = response.get_json()
    assert body["platform"]["sync_error_rate"] == 0.1
    assert body["platform"]["runs_finished_last_hour"] == 10
    [alert] = body["alerts"]
    assert alert["metric"] == "sync_error_rate" and "10.0%" in alert["message"]


def test_secrets_never_appear_in_health_or_metrics(admin_client, store):
    order_run(lengow(store))
    for path in ENDPOINTS:
        text = admin_client.get(path).get_data(as_text=True)
        assert "tok-abc" not in text and "sec-def" not in text


# Metrics -----------------------------------------------------------------------------


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_expose_the_seed_figures_and_real_queue_depths(app, store, operator_token):
    account = lengow(store)
    order_run(account, ago=timedelta(minutes=7))
    order_run(account, status=R.FAILED, ago=timedelta(minutes=1))
    imports = queue("imports")
    imports.enqueue("os.getcwd")
    imports.enqueue("os.getcwd")
    response = app.test_client().get("/metrics", headers=bearer(operator_token))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    found = families(response.get_data(as_text=True))
    [lag] = found["order_import_lag_seconds"].samples
    assert lag.labels == {
        "store": "acme",
        "feed_id": str(orders_feed(account).id),
        "kind": "import_orders",
        "account_id": str(account.id),
        "connector": "lengow",
        "mode": "test",
    }
    [other] = found["mercato_feed_lag_seconds"].samples
    assert other.labels["kind"] == "recheck_parked_orders"
    assert 410 <= lag.value <= 430
    assert found["sync_error_rate"].samples[0].value == 0.5
    assert found["fulfillment_sync_queue_depth"].samples[0].value == 0  # nothing owed
    assert found["digital_fulfillment_success_rate"].samples == []  # no attempts yet
    queued = {s.labels["queue"]: s.value for s in found["mercato_rq_queued_jobs"].samples}
    assert queued["imports"] == 2 and queued["default"] == 0
    thresholds = {s.labels["metric"]: s.value for s in found["mercato_alert_threshold"].samples}
    assert thresholds["order_import_lag_seconds"] == 900
    assert thresholds["sync_error_rate"] == 0.05
    assert found["mercato_alerts"].samples[0].value == 1  # the 50 % error rate


def owe_actions(account, states: dict[str, int]) -> None:
    """Order actions of one order of ``account``, ``count`` in each state (real rows)."""
    from webapp.models import Order, OrderAction

    order = Order(
        store_id=account.store_id,
        account_id=account.id,
        channel="amazon_fr",
        channel_order_id=f"AMZ-{account.id}-{len(states)}",
        status="confirmed",
    )
    db.session.add(order)
    db.session.flush()
    for state, count in states.items():
        for _ in range(count):
            db.session.add(
                OrderAction(
                    store_id=account.store_id,
                    order_id=order.id,
                    account_id=account.id,
                    type="ship",
                    lines=[],
                    arguments={},
                    state=state,
                    created_by="test",
                )
            )
    db.session.commit()


def test_the_fulfilment_queue_depth_counts_order_actions_owed_and_not_settled(
    admin_client, store, other_store, operator_token
):
    """Recorded (not sent yet), sent and queued (not processed yet) count; dry runs (test
    mode owes nothing), processed and failed (final) do not. No RQ queue named fulfilment is
    counted: the depth is what is owed, wherever it waits."""
    owe_actions(
        lengow(store),
        {"recorded": 2, "sent": 3, "queued": 4, "dry_run": 5, "processed": 6, "failed": 7},
    )
    owe_actions(lengow(other_store, name="Lengow Globex"), {"queued": 1, "processed": 1})
    queue("fulfilment").enqueue("os.getcwd")
    client = admin_client
    found = families(client.get("/metrics", headers=bearer(operator_token)).get_data(as_text=True))
    assert found["fulfillment_sync_queue_depth"].samples[0].value == 2 + 3 + 4 + 1
    queued = {s.labels["queue"] for s in found["mercato_rq_queued_jobs"].samples}
    assert queued == {"imports", "default"}
    platform = client.get("/health/marketplace-integrations").get_json()["platform"]
    assert platform["fulfillment_sync_queue_depth"] == 10
    assert set(platform["queues"]) == {"imports", "default"}
    page = client.get("/admin/monitoring").get_data(as_text=True)
    assert "Queue fulfilment" not in page
    assert re.search(r"Fulfilment queue</small><strong>10</strong>", page)
    from webapp.monitoring.figures import compute

    assert compute(store_id=store.id).fulfillment_sync_queue_depth == 9
    assert compute(store_id=other_store.id).fulfillment_sync_queue_depth == 1
    assert not [a for a in compute().alerts if a["metric"] == "fulfillment_sync_queue_depth"]


def test_more_than_100_owed_actions_raise_the_alert(app, store):
    from webapp.monitoring.figures import compute

    owe_actions(lengow(store), {"sent": 101})
    [alert] = [a for a in compute().alerts if a["metric"] == "fulfillment_sync_queue_depth"]
    assert (alert["value"], alert["threshold"]) == (101, 100)
    assert "above" in alert["message"]


def test_failed_rq_jobs_are_counted(app, admin_client):
    from tests.inprocess_worker import InProcessWorker

    q = queue("default")
    q.enqueue("builtins.int", "not a number")
    InProcessWorker([q], connection=q.connection).work(burst=True)
    found = families(admin_client.get("/metrics").get_data(as_text=True))
    failed = {s.labels["queue"]: s.value for s in found["mercato_rq_failed_jobs"].samples}
    assert failed["default"] == 1


# Admin page and charts ---------------------------------------------------------------


def test_hourly_buckets_count_runs_and_error_messages(app, store):
    from webapp.monitoring.figures import hourly

    account = lengow(store)
    now = utcnow().replace(minute=30)
    for ago, status in ((0, R.COMPLETED), (0, R.FAILED), (2, R.COMPLETED), (30, R.COMPLETED)):
        run = order_run(account, status=status, ago=timedelta(hours=ago) + (utcnow() - now))
    db.session.add_all(
        [
            R.Message(
                import_job_id=run.id,
                severity=severity,
                error_type="x",
                error_message="m",
                created_at=now - timedelta(hours=2),
            )
            for severity in (R.ERROR, R.ERROR, R.INFO)
        ]
    )
    db.session.commit()
    day = hourly(24, now=now)
    assert len(day) == 24
    assert (day[-1].succeeded, day[-1].failed) == (1, 1)
    assert (day[-3].succeeded, day[-3].errors) == (1, 2)
    assert sum(b.succeeded + b.failed for b in day) == 3  # 30 h ago is outside the day
    week = hourly(24 * 7, now=now)
    assert sum(b.succeeded + b.failed for b in week) == 4
    assert hourly(24, now=now, store_id=store.id + 1000)[-1].succeeded == 0


def test_admin_monitoring_page_shows_alerts_thresholds_and_charts(admin_client, store):
    quiet = lengow(store, "Quiet <b>shop</b>")
    order_run(quiet, ago=timedelta(minutes=40))
    page = admin_client.get("/admin/monitoring")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-alert="gone_quiet"' in html
    assert "Quiet &lt;b&gt;shop&lt;/b&gt;" in html and "<b>shop</b>" not in html
    assert "alert &gt; 5 %" in html
    assert re.search(r"<title>\d\d:00: 1 succeeded</title>", html)
    assert html.count("<svg") == 4
    partial = admin_client.get("/admin/monitoring/figures", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.get_data(as_text=True)


def test_store_users_cannot_see_the_monitoring_page(store_client):
    assert store_client.get("/admin/monitoring").status_code == 404
    assert store_client.get("/admin/monitoring/figures").status_code == 404


def test_cli_creates_operator_tokens(app, store_user):
    result = app.test_cli_runner().invoke(
        args=["tokens", "create", store_user.email, "--name", "prometheus", "--operator"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert json.loads(lines[0])["scope"] == "operator"
    client = app.test_client()
    assert client.get("/metrics", headers=bearer(lines[-1])).status_code == 200


def test_an_order_import_from_the_cli_counts_for_the_feed(app, admin_client, store):
    """Was: `flask orders import` ran outside the feed and monitoring merged such "loose"
    runs in; now the CLI's poll is an execution of the feed, like any other."""
    from webapp.orders.service import import_orders

    account = lengow(store, created_ago=timedelta(hours=1))
    app.config["MERCATO_OUTBOUND_ALLOW"] = []
    run = import_orders(account, trigger="cli")
    assert run.feed_id == account.order_feed.id
    run.status, run.completed_at = R.COMPLETED, utcnow() - timedelta(minutes=2)
    db.session.commit()
    response = admin_client.get("/health/marketplace-integrations")
    assert response.status_code == 200
    feeds = response.get_json()["stores"][0]["accounts"][0]["feeds"]
    assert feeds["import_orders"]["status"] == "ok"


def test_a_stores_bad_file_is_its_own_error_not_the_integrations(
    app, admin_client, store_client, store
):
    """One HTML page uploaded as a feed: the store's run fails and its pages say so; the
    operator's error rate and health endpoint do not move."""
    import io

    from markupsafe import escape

    from tests.webapp.conftest import csrf_from, run_worker

    def upload(data: bytes):
        page = store_client.get("/store/acme/marketplace")
        form = {
            "csrf_token": csrf_from(page.text),
            "language": "en",
            "batch_size": "100",
            "marketplace": "Letzshop",
            "file": (io.BytesIO(data), "catalog.csv"),
        }
        store_client.post("/store/acme/marketplace", data=form, content_type="multipart/form-data")
        run_worker(app)

    account = lengow(store)
    for _ in range(3):
        order_run(account)  # the integration itself is fine
    upload(b"<!doctype html><html><body><h1>Login</h1></body></html>")
    failed = Run.query.filter_by(kind="product_import").one()
    assert failed.status == R.FAILED

    response = admin_client.get("/health/marketplace-integrations")
    assert response.status_code == 200, response.get_json()["alerts"]
    body = response.get_json()
    assert body["platform"]["sync_error_rate"] == 0
    assert body["platform"]["runs_finished_last_hour"] == 3  # the marketplace runs only
    assert body["alerts"] == []

    # The store sees it, where it imported the file: its history and the run's page.
    history = store_client.get("/store/acme/marketplace").text
    assert f"#{failed.id}" in history and "failed" in history
    job = store_client.get(f"/store/acme/imports/{failed.id}", follow_redirects=True).text
    assert failed.error_message and str(escape(failed.error_message)) in job

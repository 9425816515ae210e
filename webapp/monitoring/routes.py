"""``/health/marketplace-integrations`` and ``/metrics``: admins and operator tokens only.

A scraper or an on-call tool sends ``Authorization: Bearer <operator token>``
(``flask tokens create EMAIL --operator``); an admin's browser session works too. A
signed-in store user gets 404, as for every admin page; anybody else 401.
"""

from __future__ import annotations

from flask import abort, jsonify, request
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ApiToken, Store, User
from webapp.models.tokens import SCOPE_OPERATOR, TOKEN_PREFIX, hash_token
from webapp.monitoring import bp, figures

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mercato-monitoring"'}


def _token_allows() -> bool | None:
    """True/False for a bearer token that may/may not read monitoring; None without one."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    token = credentials.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return False
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return False
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        return False
    return row.scope == SCOPE_OPERATOR or user.is_admin


def require_operator() -> None:
    allowed = _token_allows()
    if allowed is True:
        return
    if allowed is None and current_user.is_authenticated:
        if current_user.is_admin:
            return
        abort(404)
    response = jsonify(error="An admin session or an operator token is required.")
    response.status_code = 401 if allowed is None else 403
    if allowed is None:
        response.headers.update(_CHALLENGE)
    abort(response)


def _store_filter() -> int | None:
    code = request.args.get("store")
    if not code:
        return None
    store = db.session.scalar(select(Store).where(Store.code == code[:64]))
    if store is None:
        abort(404)
    return store.id


@bp.get("/health/marketplace-integrations")
def integrations_health():
    """Per store, account and flow: last success, lag, status; 503 when a threshold is crossed."""
    require_operator()
    found = figures.compute(store_id=_store_filter())
    stores: dict[str, dict] = {}
    for check in found.checks:
        store = stores.setdefault(
            check.store_code, {"store": check.store_code, "accounts": {}, "store_feeds": {}}
        )
        feed = check.as_json()
        for key in ("account_id", "account", "connector", "mode", "flow"):
            feed.pop(key)
        if check.account_id is None:
            store["store_feeds"][check.flow] = feed
            continue
        account = store["accounts"].setdefault(
            check.account_id,
            {
                "account_id": check.account_id,
                "name": check.account_name,
                "connector": check.connector,
                "mode": "live" if check.live else "test",
                "feeds": {},
            },
        )
        account["feeds"][check.flow] = feed
    body = {
        "status": "ok" if found.healthy else "alert",
        "checked_at": figures._iso(found.checked_at),
        "thresholds": {m: t for m, (t, _) in figures.THRESHOLDS.items()},
        "stores": [
            {"store": s["store"], "accounts": list(s["accounts"].values())} for s in stores.values()
        ],
        "platform": {
            "sync_error_rate": round(found.sync_error_rate, 4),
            "runs_finished_last_hour": found.finished_last_hour,
            "runs_failed_last_hour": found.failed_last_hour,
            "fulfillment_sync_queue_depth": found.fulfillment_sync_queue_depth,
            "digital_fulfillment_success_rate": found.digital_fulfillment_success_rate,
            "queues": found.queues,
        },
        "codeswholesale": found.codeswholesale,
        "alerts": found.alerts,
    }
    response = jsonify(body)
    response.status_code = 200 if found.healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


class _Collector:
    """Reads the figures at scrape time (no background state to drift from the database)."""

    def __init__(self, found: figures.Figures):
        self.found = found

    def collect(self):
        found = self.found
        labels = ["store", "feed_id", "kind", "account_id", "connector", "mode"]
        lags = {
            metric: GaugeMetricFamily(metric, help_text, labels=labels)
            for metric, help_text in (
                ("order_import_lag_seconds", "Seconds since the last successful order import."),
                ("inventory_sync_lag_seconds", "Seconds since the last successful stock sync."),
                (figures.FEED_LAG_METRIC, "Seconds since any other feed last succeeded."),
            )
        }
        for check in found.checks:
            lags[check.metric].add_metric(
                [
                    check.store_code,
                    str(check.feed_id),
                    check.flow,
                    str(check.account_id or ""),
                    check.connector or "",
                    "live" if check.live else "test",
                ],
                check.lag_seconds or 0.0,
            )
        yield from lags.values()
        fulfilment = GaugeMetricFamily(
            "fulfillment_sync_queue_depth",
            "Order actions (ship, accept, refuse, cancel, refund...) owed to the marketplaces "
            "and not settled: recorded and not sent yet (pending, failed awaiting a retry, "
            "unknown), or sent and not yet processed by the marketplace (sent, queued). Dry "
            "runs, processed and failed actions are not counted.",
        )
        if found.fulfillment_sync_queue_depth is not None:
            fulfilment.add_metric([], found.fulfillment_sync_queue_depth)
        yield fulfilment
        yield GaugeMetricFamily(
            "sync_error_rate",
            "Failed or abandoned marketplace executions / finished ones, over the last hour "
            "(a store's own product imports are its own errors, not the integration's).",
            value=found.sync_error_rate,
        )
        digital = GaugeMetricFamily(
            "digital_fulfillment_success_rate", "Successful key retrievals / attempts."
        )
        if found.digital_fulfillment_success_rate is not None:
            digital.add_metric([], found.digital_fulfillment_success_rate)
        yield digital
        thresholds = GaugeMetricFamily(
            "mercato_alert_threshold", "The alert threshold of each metric.", labels=["metric"]
        )
        for metric, (threshold, _) in figures.THRESHOLDS.items():
            thresholds.add_metric([metric], threshold)
        yield thresholds
        yield GaugeMetricFamily(
            "mercato_alerts", "Thresholds crossed right now.", value=len(found.alerts)
        )
        for key, help_text in (
            ("queued", "Jobs waiting in the RQ queue."),
            ("started", "Jobs running (RQ started registry)."),
            ("failed", "Jobs in the RQ failed registry."),
            ("scheduled", "Jobs deferred for a retry (RQ scheduled registry)."),
        ):
            family = GaugeMetricFamily(f"mercato_rq_{key}_jobs", help_text, labels=["queue"])
            for name, values in found.queues.items():
                family.add_metric([name], values[key])
            yield family


@bp.get("/metrics")
def metrics():
    require_operator()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(figures.compute()))
    return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}

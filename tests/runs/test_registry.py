"""The flow registry: a feed kind is declared once, and everything else derives from it."""

from __future__ import annotations

import pytest

from connectors import registry as connectors_registry
from connectors.base import Capability
from tests.feeds.conftest import fresh, runs_of, work
from tests.webapp.conftest import csrf_from, logged_in
from webapp.extensions import db
from webapp.feeds.defaults import kinds_for, schedules
from webapp.models import Feed, Run, ScheduledJob
from webapp.models import runs as R
from webapp.models.feeds import BUILT_FLOWS, IN, KINDS, OUT, flow_is_built
from webapp.runs import registry


def test_the_models_kinds_and_built_flows_are_written_by_the_registry(app):
    """Models import no area: the registry writes each declaration into the model's
    tables, so a kind is declared once and the feed pages still name it."""
    kinds = registry.feed_kinds()
    assert {k: (f.direction, f.label) for k, f in kinds.items()} == KINDS
    assert {k: f.owner for k, f in kinds.items() if f.built} == BUILT_FLOWS
    assert list(KINDS)[:5] == [
        "import_products",
        "update_products",
        "import_orders",
        "update_orders",
        "recheck_parked_orders",
    ]
    for kind in kinds:
        for account_id in (None, 1):
            assert registry.is_built(kind, account_id) == flow_is_built(kind, account_id)
    registry.declare("probe_later", label="Probe later", direction=OUT)
    try:
        assert KINDS["probe_later"] == (OUT, "Probe later") and "probe_later" not in BUILT_FLOWS
        assert Feed(kind="probe_later", store_id=1).label == "Probe later"
    finally:
        registry.unregister("probe_later")
    assert "probe_later" not in KINDS


def test_defaults_derive_from_the_declarations():
    assert schedules()["import_orders"].interval_seconds == 300
    assert schedules()["price_export"].cron_expression == "0 2 * * *"
    assert schedules()["import_orders"].enabled and not schedules()["stock_export"].enabled
    lengow = connectors_registry.get("lengow")
    declared = [
        k
        for k, f in registry.feed_kinds().items()
        if f.capability
        and any(
            lengow.has(c)
            for c in (f.capability if isinstance(f.capability, tuple) else (f.capability,))
        )
    ]

    class FakeAccount:
        connector = "lengow"

    assert kinds_for(FakeAccount()) == tuple(declared)
    assert "import_orders" in declared and "update_orders" not in declared


def test_every_run_kind_has_one_flow_to_execute_it():
    assert registry.for_run("order_import", "import_orders").kind == "import_orders"
    assert registry.for_run("outbound", "import_orders").kind == "send_outbound"
    assert registry.for_run("product_import", None).kind == "product_import"
    assert registry.for_run("product_import", "import_products").kind == "import_products"
    assert registry.for_run("bulk_shipping", None).kind == "bulk_shipping"
    assert registry.for_run("mail", None).kind == "send_mail"
    # Runs of no feed kind of their own; bulk shipping and e-mail have no feed at all, so they
    # never count among a feed's executions either way.
    assert registry.follower_run_kinds() == (
        "bulk_shipping",
        "digital_fulfilment",
        "mail",
        "outbound",
    )


@pytest.fixture
def probe():
    """A throwaway flow, declared by one decorated function and nothing else."""
    calls = []

    @registry.flow(
        "probe_feed",
        label="Probe feed",
        capability=Capability.ORDERS_IN,
        interval_seconds=120,
    )
    def run_probe(run):
        calls.append(run.id)
        run.total_processed = 7
        db.session.commit()

    yield calls
    registry.unregister("probe_feed")


def test_adding_a_feed_kind_is_one_decorated_function(app, store, store_user, account, probe):
    """Run now on a feed of a kind no file but this test names: the lifecycle creates its
    run, the job executes the flow with it, the feed's page links to it."""
    feed = Feed(
        store_id=store.id, account_id=account.id, kind="probe_feed", direction=IN, enabled=True
    )
    feed.schedule = ScheduledJob(store_id=store.id, job_type="feed", interval_seconds=120)
    db.session.add(feed)
    db.session.commit()
    assert "probe_feed" in [k for k in kinds_for(account)]  # its capability gives it

    client = logged_in(app, store_user.email)
    token = csrf_from(client.get("/store/acme/feeds").text)
    response = client.post(
        f"/store/acme/feeds/{feed.id}/run", headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert response.status_code == 200
    (run,) = runs_of(feed.id)
    assert "Execution <a href=" in response.text and f"#{run.id}</a> started" in response.text
    assert (run.kind, run.status, run.trigger) == ("probe_feed", R.PENDING, "run_now")
    assert run.rq_job_id == f"mercato-run-{run.id}"
    work(app)
    done = fresh(Run, run.id)
    assert probe == [run.id]
    assert (done.status, done.total_processed) == (R.COMPLETED, 7)
    assert fresh(Feed, feed.id).schedule.last_run_status == R.COMPLETED
    page = client.get(f"/store/acme/feeds/{feed.id}").text
    assert "Probe feed" in page and f"#{run.id}" in page  # named by its declaration alone

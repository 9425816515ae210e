"""Executing feeds: one run per execution, the per-feed lock, the pages and the CLI."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.feeds.conftest import entries, feed_of, fresh, not_built_feed, runs_of, work
from tests.webapp.conftest import csrf_from
from webapp.extensions import db
from webapp.feeds import schedule
from webapp.models import Message, Order, Run
from webapp.models import runs as R
from webapp.runs import lifecycle

DONE = (R.COMPLETED, R.COMPLETED_WITH_ERRORS)


def messages(run_id: int) -> list[Message]:
    return list(db.session.scalars(select(Message).where(Message.import_job_id == run_id)))


def test_run_feed_imports_orders_as_one_run_linked_to_the_feed(app, account):
    orders = feed_of(account, "import_orders")
    started = lifecycle.run_feed(orders.id, "cli")
    assert started.started
    run = started.run
    assert (run.feed_id, run.trigger, run.kind, run.account_id) == (
        orders.id,
        "cli",
        "order_import",
        account.id,
    )
    assert run.status in DONE, run.error_message
    assert run.total_processed == 40 and run.imported_count + run.parked_count == 40
    # One execution, one row: the flow ran on the run the lifecycle created.
    assert [r.id for r in runs_of(orders.id)] == [run.id]
    assert db.session.scalar(select(func.count(Run.id))) == 1
    assert db.session.scalar(select(func.count(Order.id))) == run.imported_count

    recheck = lifecycle.run_feed(feed_of(account, "recheck_parked_orders").id, "cli").run
    assert (recheck.kind, recheck.status, recheck.trigger) == ("order_recheck", R.COMPLETED, "cli")
    assert recheck.feed_id == feed_of(account, "recheck_parked_orders").id
    assert db.session.scalar(select(func.count(Run.id))) == 2


def test_a_flow_receives_the_run_the_lifecycle_created(app, account):
    """Was: the order service inserted a run of its own, and the pending one was "adopted"
    by a listener; now the flow records on the run it is given, and never creates one."""
    feed = feed_of(account, "import_orders")
    pending = lifecycle.create_execution(feed, "cli").run
    done = lifecycle.execute(pending.id)
    assert done.id == pending.id and done.feed_id == feed.id and done.status in DONE
    assert db.session.scalar(select(func.count(Run.id))) == 1
    assert lifecycle.active_run(feed.id) is None


def test_the_enqueued_execution_is_the_run_the_page_links_to(app, account):
    orders = feed_of(account, "import_orders")
    started = lifecycle.start_feed(orders, "run_now")
    run_id, job_id = started.run.id, started.run.rq_job_id
    assert started.started and job_id == f"mercato-run-{run_id}"
    assert fresh(Run, run_id).status == R.PENDING
    work(app)
    done = fresh(Run, run_id)
    assert done.status in DONE and (done.trigger, done.rq_job_id) == ("run_now", job_id)
    assert [r.id for r in runs_of(orders.id)] == [run_id]


def test_one_execution_per_feed_at_a_time(app, account):
    orders = feed_of(account, "import_orders")
    first = lifecycle.start_feed(orders, "run_now")
    second = lifecycle.start_feed(orders, "run_now")
    assert first.started and not second.started
    assert second.run.id == first.run.id
    tick = lifecycle.start_feed(orders, "schedule")  # a scheduled tick meanwhile: skipped...
    assert not tick.started and tick.run.id == first.run.id
    (skipped,) = messages(first.run.id)  # ...and recorded as info on the running execution
    assert (skipped.severity, skipped.error_type) == (R.INFO, "schedule_skipped")
    skipped_id = skipped.id
    # The lock is the database's, whoever writes the row.
    db.session.add(Run(kind="order_import", store_id=orders.store_id, feed_id=orders.id))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    work(app)
    assert [r.status in DONE for r in runs_of(orders.id)] == [True]
    # The note is on the execution that ran.
    assert skipped_id in [m.id for m in messages(first.run.id)]
    assert lifecycle.start_feed(orders, "run_now").started  # free again once finished


def test_outbound_feeds_are_not_built_and_cannot_be_enabled_or_run(app, account):
    """Was: enabled, then run, it ended "completed" with nothing sent (issue 11)."""
    feed = not_built_feed(account)  # an account's product import: no flow behind it
    with pytest.raises(lifecycle.FeedNotBuilt, match="not built"):
        lifecycle.start_feed(feed, "run_now")
    with pytest.raises(lifecycle.FeedNotBuilt, match="not built"):
        lifecycle.set_enabled(feed, True)
    feed.enabled = True  # as an older release, or a hand edit, left it
    db.session.commit()
    with pytest.raises(lifecycle.FeedNotBuilt, match="cannot be enabled or run"):
        lifecycle.run_feed(feed.id, "cli")
    assert runs_of(feed.id) == []


def test_a_retired_account_cannot_be_run(app, account):
    account.retire()
    db.session.commit()
    with pytest.raises(lifecycle.FeedError, match="retired"):
        lifecycle.start_feed(feed_of(account, "import_orders"), "run_now")


def test_a_failing_marketplace_fails_the_execution_with_a_message(app, account, sandbox):
    import requests

    requests.post(
        f"{sandbox}/_sandbox/faults", json={"server_error": {"every": 1, "status": 500}}, timeout=5
    )
    run = lifecycle.run_feed(feed_of(account, "import_orders").id, "cli").run
    assert run.status == R.FAILED and run.feed_id == feed_of(account, "import_orders").id
    assert any(m.error_type == "connector_error" for m in messages(run.id))
    assert [r.id for r in runs_of(run.feed_id)] == [run.id]


# -- pages ---------------------------------------------------------------------------------


@pytest.fixture
def client(app, store_user, account):
    from tests.webapp.conftest import logged_in

    return logged_in(app, store_user.email)


def hx(client, url, **data):
    page = client.get("/store/acme/feeds")
    token = csrf_from(page.text)
    return client.post(url, data=data, headers={"HX-Request": "true", "X-CSRFToken": token})


def test_feeds_page_and_run_now(app, client, account):
    orders = feed_of(account, "import_orders")
    page = client.get("/store/acme/feeds")
    assert page.status_code == 200
    assert "Import new orders" in page.text and "Lengow Menzzo" in page.text
    assert "every 5 min" in page.text and "Shipping confirmation" in page.text

    response = hx(client, f"/store/acme/feeds/{orders.id}/run")
    assert response.status_code == 200
    (run,) = runs_of(orders.id)
    assert (
        f'Execution <a href="/store/acme/integration/executions/{run.id}">#{run.id}</a> started'
        in response.text
    )
    assert 'hx-trigger="every' in response.text  # the row polls while it runs
    again = hx(client, f"/store/acme/feeds/{orders.id}/run")
    assert f"is already running: execution #{run.id}" in again.text
    assert len(runs_of(orders.id)) == 1

    work(app)
    assert fresh(Run, run.id).status in DONE  # (also ends this session's stale snapshot)
    row = client.get(f"/store/acme/feeds/{orders.id}/row", headers={"HX-Request": "true"})
    assert 'data-run-status="completed' in row.text and "hx-trigger" not in row.text
    detail = client.get(f"/store/acme/integration/executions/{run.id}")
    assert detail.status_code == 200 and "Execution #" in detail.text
    listing = client.get(f"/store/acme/integration/executions?status={fresh(Run, run.id).status}")
    assert f'id="run-{run.id}"' in listing.text and "run now" in listing.text
    assert (
        f'id="run-{run.id}"'
        not in client.get("/store/acme/integration/executions?status=failed").text
    )


def test_run_now_needs_the_csrf_token(app, client, account):
    orders = feed_of(account, "import_orders")
    response = client.post(f"/store/acme/feeds/{orders.id}/run", headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert runs_of(orders.id) == []


def test_schedule_editor_validates_and_reconciles(app, client, account):
    orders = feed_of(account, "import_orders")
    url = f"/store/acme/feeds/{orders.id}/schedule"
    token = csrf_from(client.get(f"/store/acme/feeds/{orders.id}").text)
    bad = client.post(url, data={"mode": "cron", "cron": "every day", "csrf_token": token})
    assert bad.status_code == 422 and "five fields" in bad.text
    assert fresh(type(orders), orders.id).schedule.interval_seconds == 300  # nothing saved
    good = client.post(url, data={"mode": "every", "every_minutes": "10", "csrf_token": token})
    assert good.status_code == 302
    assert fresh(type(orders), orders.id).schedule.interval_seconds == 600
    from rq.job import Job

    from webapp.extensions import queue

    job = Job.fetch(schedule.feed_job_id(orders.id), connection=queue().connection)
    assert job.meta["interval"] == 600
    off = client.post(
        f"/store/acme/feeds/{orders.id}/enabled", data={"enabled": "0", "csrf_token": token}
    )
    assert off.status_code == 302
    assert schedule.feed_job_id(orders.id) not in entries(app)


def test_admin_sees_every_store_with_a_filter(app, account, admin_user, other_store):
    from tests.webapp.conftest import logged_in

    run = lifecycle.run_feed(feed_of(account, "import_orders").id, "cli").run
    admin = logged_in(app, admin_user.email)
    page = admin.get("/admin/feed-executions")
    assert page.status_code == 200 and f'id="run-{run.id}"' in page.text
    other = admin.get(f"/admin/feed-executions?store_id={other_store.id}")
    assert f'id="run-{run.id}"' not in other.text


# -- CLI -----------------------------------------------------------------------------------


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["feeds", *args])


def test_feeds_cli(app, account):
    orders = feed_of(account, "import_orders")
    listed = [json.loads(line) for line in cli(app, "list", "--format", "json").output.splitlines()]
    record = next(r for r in listed if r["id"] == orders.id)
    assert record == {
        "id": orders.id,
        "store": "acme",
        "account_id": account.id,
        "kind": "import_orders",
        "direction": "in",
        "built": True,
        "enabled": True,
        "schedule": "every 5 min",
        "scheduled": True,
        "last_run": None,
        "next_run": record["next_run"],
    }
    assert record["next_run"].endswith("Z")

    result = cli(app, "run", str(orders.id))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["status"] in DONE and summary["fetched"] == 40
    assert summary["feed_id"] == orders.id and summary["trigger"] == "cli"

    assert cli(app, "schedule", str(orders.id), "--every", "15m").exit_code == 0
    assert fresh(type(orders), orders.id).schedule.interval_seconds == 900
    result = cli(app, "schedule", str(orders.id), "--cron", "*/5 * * * *")
    assert (
        result.exit_code == 0
        and json.loads(result.output.splitlines()[-1])["schedule"] == "cron */5 * * * *"
    )
    refused = cli(app, "schedule", str(orders.id), "--cron", "61 * * * *")
    assert refused.exit_code != 0 and "not a valid cron" in refused.output
    assert cli(app, "schedule", str(orders.id)).exit_code != 0

    assert cli(app, "disable", str(orders.id)).exit_code == 0
    assert schedule.feed_job_id(orders.id) not in entries(app)
    refused = cli(app, "run", str(orders.id))
    assert refused.exit_code != 0 and "disabled" in refused.output
    assert cli(app, "enable", str(orders.id)).exit_code == 0
    assert schedule.feed_job_id(orders.id) in entries(app)

    queued = lifecycle.start_feed(orders, "run_now").run  # waiting for a worker
    busy = cli(app, "run", str(orders.id))
    assert busy.exit_code == 1 and f"already running: execution #{queued.id}" in busy.output
    assert json.loads(busy.stdout.splitlines()[-1])["already_running"] is True
    work(app)

    result = cli(app, "reconcile")
    assert result.exit_code == 0
    assert json.loads(result.output.splitlines()[-1])["removed"] == 0
    listed = cli(app, "list", "--store", "acme").output
    assert "import_orders" in listed and "last=completed" in listed
    assert cli(app, "list", "--store", "nope").exit_code != 0

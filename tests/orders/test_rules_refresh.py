"""The daily refresh of every account's marketplace rules: a global job scheduled through
rq-scheduler like the other periodic jobs, run by a worker; one account failing does not stop
the others; when each copy was fetched is on the account page and in the CLI output."""

from __future__ import annotations

import json
import logging

from rq.job import Job

from tests.orders.helpers import sandbox_counters, work_default_queue
from tests.orders.test_acks_and_modes import lengow
from tests.orders.test_fulfilment import run_cli
from tests.webapp.conftest import logged_in, make_user
from webapp.accounts import create_account
from webapp.extensions import db, queue, redis_connection
from webapp.feeds import schedule
from webapp.feeds.defaults import ensure_all
from webapp.orders import marketplace_rules


def accounts(app, store, sandbox):
    live = lengow(app, store, sandbox, live=True)
    test = lengow(app, store, sandbox, live=False)
    broken = create_account(
        store,
        "lengow",
        "Lengow wrong secret",
        settings={"account_id": "5622", "base_url": sandbox},
        secrets={"access_token": "sandbox-access-5622", "secret": "not-the-secret"},
        by="test-suite",
    )
    letzshop = create_account(
        store,
        "letzshop",
        "Letzshop",
        settings={"base_url": sandbox},
        secrets={"api_token": "t"},
        by="test-suite",
    )
    retired = lengow(app, store, sandbox, live=False)
    retired.retire()
    db.session.commit()
    return live, test, broken, letzshop, retired


def test_the_daily_job_is_scheduled_and_refreshes_every_account_on_its_own(
    app, store, sandbox, caplog
):
    live, test, broken, letzshop, retired = accounts(app, store, sandbox)
    ensure_all()
    schedule.reconcile()
    job_id = schedule.global_job_id("refresh_marketplace_rules")
    entry = Job.fetch(job_id, connection=redis_connection())
    assert entry.func_name == "jobs.feeds.refresh_marketplace_rules"
    assert entry.meta["interval"] == 86400
    assert marketplace_rules.cached_at(live) is None
    # what rq-scheduler enqueues when it is due, run by a worker
    before = sandbox_counters(sandbox)["requests"]
    with caplog.at_level(logging.INFO, logger="webapp.orders.marketplace_rules"):
        job = queue("default").enqueue("jobs.feeds.refresh_marketplace_rules")
        work_default_queue()
    job.refresh()
    result = job.return_value()
    assert (result["refreshed"], result["failed"]) == (2, 1)
    assert set(result["accounts"]) == {str(live.id), str(test.id), str(broken.id)}
    assert "error" in result["accounts"][str(broken.id)]
    assert sandbox_counters(sandbox)["requests"] > before
    for account in (live, test):
        at = marketplace_rules.cached_at(account)
        assert at is not None
        assert result["accounts"][str(account.id)]["cached_at"] == at.isoformat() + "Z"
        assert redis_connection().exists(marketplace_rules.cache_key(account)) == 1
    for account in (broken, letzshop, retired):
        assert marketplace_rules.cached_at(account) is None
    logged = caplog.text
    assert f"account_id={broken.id} failed" in logged and "refreshed=2 failed=1" in logged
    # the account page says when the rules were fetched; a connector without rules says nothing
    make_user("rules@acme.test", store=store)
    client = logged_in(app, "rules@acme.test")
    page = client.get(f"/store/{store.code}/accounts/{live.id}").text
    shown = marketplace_rules.cached_at(live).strftime("%d %b %Y %H:%M")
    assert f"fetched {shown} UTC (refreshed daily)" in page
    assert "Marketplace rules" not in client.get(f"/store/{store.code}/accounts/{letzshop.id}").text


def test_cli_refresh_all_reports_each_account_and_fails_when_one_did(app, store, sandbox):
    live, test, broken, _letzshop, _retired = accounts(app, store, sandbox)
    result = run_cli(app, "orders", "rules", "refresh", "--all")
    assert result.exit_code == 1
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["refreshed"], summary["failed"]) == (2, 1)
    assert f"Account {broken.id}: " in result.stderr
    one = run_cli(app, "orders", "rules", "refresh", "--account", live.id)
    assert one.exit_code == 0
    said = json.loads(one.stdout.strip().splitlines()[-1])
    assert said["cached_at"] == marketplace_rules.cached_at(live).isoformat() + "Z"
    both = run_cli(app, "orders", "rules", "refresh", "--all", "--account", live.id)
    assert both.exit_code == 2 and "exactly one of --account or --all" in both.stderr

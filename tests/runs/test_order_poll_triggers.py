"""An order poll, whatever started it (the CLI, the schedule, Run now, a retry), is an
execution of its feed: linked to it, its feed's last run, and it moves the feed's cursor.
Was: `flask orders import` and the inbox's retry ran outside the feed, and monitoring had to
merge such "loose" runs back in."""

from __future__ import annotations

import json

import requests

from tests.api.conftest import make_person
from tests.feeds.conftest import feed_of, fresh, runs_of, work
from tests.webapp.conftest import csrf_from, logged_in
from webapp.extensions import db
from webapp.feeds.queries import last_runs
from webapp.models import Account, Feed, Run
from webapp.models import runs as R
from webapp.runs import lifecycle

DONE = (R.COMPLETED, R.COMPLETED_WITH_ERRORS)


def assert_execution_of_its_feed(run_id: int, account, trigger: str) -> None:
    feed = feed_of(account, "import_orders")
    run = fresh(Run, run_id)
    assert (run.feed_id, run.kind, run.trigger) == (feed.id, "order_import", trigger)
    assert run.status in DONE, run.error_message
    assert last_runs([feed.id])[feed.id].id == run.id
    assert [r.id for r in runs_of(feed.id)][-1] == run.id
    # The cursor is the feed's, and the account shows it as its last sync.
    synced = fresh(Feed, feed.id).last_sync_at
    assert synced is not None and db.session.get(Account, account.id).last_sync_at == synced


def test_flask_orders_import(app, account):
    result = app.test_cli_runner().invoke(args=["orders", "import", "--account", str(account.id)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["fetched"] == 40
    assert_execution_of_its_feed(summary["job_id"], account, "cli")


def test_the_schedule(app, account):
    from jobs.feeds import scheduled_tick

    ticked = scheduled_tick(feed_of(account, "import_orders").id)
    assert ticked["state"] == "started"
    work(app)
    assert_execution_of_its_feed(ticked["run_id"], account, "schedule")


def test_run_now(app, account, store_user):
    feed = feed_of(account, "import_orders")
    client = logged_in(app, store_user.email)
    token = csrf_from(client.get("/store/acme/feeds").text)
    response = client.post(
        f"/store/acme/feeds/{feed.id}/run", headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert response.status_code == 200
    (run,) = runs_of(feed.id)
    work(app)
    assert_execution_of_its_feed(run.id, account, "run_now")


def test_a_retry_from_the_inbox(app, account, sandbox):
    from webapp.inbox.retry import sweep

    requests.post(
        f"{sandbox}/_sandbox/faults", json={"server_error": {"every": 1, "status": 503}}, timeout=5
    )
    result = app.test_cli_runner().invoke(args=["orders", "import", "--account", str(account.id)])
    assert result.exit_code == 1
    requests.delete(f"{sandbox}/_sandbox/faults", timeout=5)
    assert sweep()["resolved"] == 1  # the connector error's retry polls again
    assert_execution_of_its_feed(
        runs_of(feed_of(account, "import_orders").id)[-1].id, account, "retry"
    )


def test_the_cursor_moves_only_on_a_full_read(app, account, sandbox):
    feed = feed_of(account, "import_orders")
    requests.post(
        f"{sandbox}/_sandbox/faults", json={"server_error": {"every": 1, "status": 503}}, timeout=5
    )
    failed = lifecycle.run_feed(feed.id, "cli").run
    assert failed.status == R.FAILED and fresh(Feed, feed.id).last_sync_at is None
    requests.delete(f"{sandbox}/_sandbox/faults", timeout=5)
    assert lifecycle.run_feed(feed.id, "cli").run.status in DONE
    assert fresh(Feed, feed.id).last_sync_at is not None


def test_a_second_execution_is_refused_in_the_same_words_on_every_path(app, account, store_user):
    feed = feed_of(account, "import_orders")
    running = lifecycle.start_feed(feed, "run_now").run  # pending: the feed's lock is held
    words = lifecycle.already_running(running)
    assert words == f"Feed #{feed.id} is already running: execution #{running.id} (pending)."

    for args in (
        ["orders", "import", "--account", str(account.id)],
        ["feeds", "run", str(feed.id)],
    ):
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code == 1 and words in result.output, args
        last = json.loads(result.output.strip().splitlines()[-1])
        assert last["already_running"] is True and running.id in last.values(), args

    client = logged_in(app, store_user.email)
    token = csrf_from(client.get("/store/acme/feeds").text)
    page = client.post(
        f"/store/acme/feeds/{feed.id}/run", headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert words in page.text

    api = make_person(app, "api@acme.test", store=account.store)
    answer = api.api.post(f"/store/feeds/{feed.id}/executions")
    assert answer.status_code == 409
    assert answer.get_json()["error"] == {"status": 409, "message": words, "job_id": running.id}
    assert [r.id for r in runs_of(feed.id)] == [running.id]


def test_the_run_page_names_the_flow_that_ran(app, account, store_user):
    """The poll and the sender that follows it are both executions of the order feed; the
    one run page says which flow each one was."""
    from webapp.outbound import send_owed

    result = app.test_cli_runner().invoke(args=["orders", "import", "--account", str(account.id)])
    poll_id = json.loads(result.output.strip().splitlines()[-1])["job_id"]
    send_owed(fresh(Account, account.id))
    feed = feed_of(account, "import_orders")
    sender = [r for r in runs_of(feed.id, with_sender=True) if r.kind == "outbound"]
    assert sender, "the acknowledgements owed by the poll were sent by a run of the feed"
    client = logged_in(app, store_user.email)
    poll_page = client.get(f"/store/acme/integration/executions/{poll_id}").text
    sender_page = client.get(f"/store/acme/integration/executions/{sender[-1].id}").text
    assert '<dd id="run-flow">Import new orders</dd>' in poll_page
    assert '<dd id="run-flow">Send outbound calls</dd>' in sender_page

"""Runs in flight (issue 11): each in-flight row of the import histories and of the feed
executions polls its own row partial every second and shows its phase in words and how far
it is; a finished row renders without a trigger, so its polling stops."""

from __future__ import annotations

import re

import pytest

from tests.webapp.conftest import logged_in, make_user
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import Feed, Run
from webapp.models import runs as R
from webapp.models.base import utcnow

HX = {"HX-Request": "true"}


def make_run(store, **fields) -> Run:
    values = {
        "kind": "product_import",
        "store_id": store.id,
        "source_url": "https://feeds.example.com/big.csv",
        "status": R.PROCESSING,
        "started_at": utcnow(),
        "trigger": "ui",
    }
    values.update(fields)
    run = Run(**values)
    db.session.add(run)
    db.session.commit()
    return run


def row_of(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    start = html.rindex("<tr", 0, start)
    return html[start : html.index("</tr>", start) + 5]


def test_an_import_in_flight_polls_its_own_row_and_shows_phase_and_percent(
    app, store, store_client
):
    run = make_run(store, phase="upserting", progress=42, total_processed=168000)
    page = store_client.get("/store/acme/marketplace").text
    row = row_of(page, f"run-{run.id}")
    assert f'hx-get="/store/acme/imports/{run.id}/row"' in row
    assert 'hx-trigger="every 1s"' in row and 'data-polling="yes"' in row
    assert "Writing products · <span" in row and "42%" in row and "168,000 rows" in row
    assert 'hx-trigger="every 10s"' in page  # the list's own refresh stays

    # The row partial moves with the run...
    run.progress, run.total_processed = 87, 348000
    db.session.commit()
    partial = store_client.get(f"/store/acme/imports/{run.id}/row", headers=HX)
    assert partial.status_code == 200 and partial.text.lstrip().startswith("<tr")
    assert "87%" in partial.text and "348,000 rows" in partial.text
    assert "HX-Request" in partial.headers["Vary"]
    # ...and stops polling once the run has finished.
    run.status, run.phase, run.progress, run.completed_at = R.COMPLETED, None, 100, utcnow()
    db.session.commit()
    done = store_client.get(f"/store/acme/imports/{run.id}/row", headers=HX).text
    assert "hx-get" not in done and "hx-trigger" not in done and 'data-polling="no"' in done
    assert "completed" in done and "<progress" not in done
    # Without HTMX the row's address is the run's page.
    plain = store_client.get(f"/store/acme/imports/{run.id}/row")
    assert plain.status_code == 302 and plain.headers["Location"].endswith(f"/imports/{run.id}")


def test_a_pending_import_says_it_waits_for_a_worker(app, store, store_client):
    run = make_run(store, status=R.PENDING, started_at=None)
    row = row_of(store_client.get("/store/acme/marketplace").text, f"run-{run.id}")
    assert "Waiting for a worker" in row and "pending pending" not in row
    assert 'hx-trigger="every 1s"' in row
    assert re.search(r">\s*pending\s*</span>", row)  # the status itself, once


@pytest.mark.parametrize(
    ("phase", "words"),
    [("downloading", "Downloading the feed"), ("parsing", "Reading the feed"), (None, "Running")],
)
def test_phases_in_words(app, store, store_client, phase, words):
    run = make_run(store, phase=phase, progress=5)
    partial = store_client.get(f"/store/acme/imports/{run.id}/row", headers=HX).text
    assert f"{words} · " in partial and 'data-phase="' + (phase or "processing") in partial


def test_admin_rows_keep_their_columns_and_poll(app, store, admin_user):
    owner = make_user("owner@acme.test", store=store)
    run = make_run(store, user_id=owner.id, phase="upserting", progress=10)
    admin = logged_in(app, admin_user.email)
    page = admin.get("/admin/imports").text
    row = row_of(page, f"run-{run.id}")
    assert f"/store/acme/imports/{run.id}/row?store=1&amp;creator=1" in row
    partial = admin.get(f"/store/acme/imports/{run.id}/row?store=1&creator=1", headers=HX).text
    assert "owner@acme.test" in partial and "Acme" in partial and partial.count("<td") == 8
    # A store user asking for the creator column does not get it.
    shop = logged_in(app, make_user("shop2@acme.test", store=store).email)
    theirs = shop.get(f"/store/acme/imports/{run.id}/row?store=1&creator=1", headers=HX).text
    assert "owner@acme.test" not in theirs and theirs.count("<td") == 7


def test_feed_execution_rows_poll_and_count_what_they_read(app, store, store_client):
    account = create_account(store, "letzshop", "Letzshop", secrets={"api_token": "t0ken"})
    feed = db.session.query(Feed).filter_by(account_id=account.id, kind="import_orders").one()
    run = make_run(
        store,
        kind="order_import",
        account_id=account.id,
        feed_id=feed.id,
        phase="downloading",
        total_processed=200,
        trigger="run_now",
    )
    page = store_client.get("/store/acme/integration/executions").text
    row = row_of(page, f"run-{run.id}")
    url = f"/store/acme/integration/executions/{run.id}/row"
    assert f'hx-get="{url}"' in row and 'hx-trigger="every 1s"' in row
    assert "Fetching orders · 200 read" in row and "%" not in row.split("Fetching orders")[1][:40]
    # The feed's row on the feeds list shows it too (it polls itself every 2 s).
    feeds_row = row_of(store_client.get("/store/acme/feeds").text, f"feed-{feed.id}")
    assert "Fetching orders · 200 read" in feeds_row and "every 2s" in feeds_row

    run.status, run.phase, run.completed_at = R.COMPLETED, None, utcnow()
    db.session.commit()
    done = store_client.get(url, headers=HX).text
    assert "hx-trigger" not in done and 'data-polling="no"' in done and "completed" in done

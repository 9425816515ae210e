"""Test mode that says what it is, and going live as a deliberate, recorded step (issue 11).

A Lengow account on the marketplace sandbox (real HTTP) imports its orders in test mode, so
each order's acknowledgement is recorded as a dry run. The pages then say so: the mode badge
on every page that shows the account, its orders or its feeds; the recorded request on the
order page and in the account's calls; and going live is a confirmation page that counts
what is owed and sends it once or discards it, recorded with who and when.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.orders.helpers import sandbox_counters, work_default_queue
from tests.sandbox_server import served_sandbox
from tests.webapp.conftest import csrf_from, logged_in, make_user
from webapp.accounts import create_account
from webapp.extensions import db, queue
from webapp.models import AccountModeChange, Feed, Message, Order, OutboundCall, Run
from webapp.models.base import utcnow
from webapp.orders.service import import_orders
from webapp.outbound import send_owed

HX = {"HX-Request": "true"}
ACCESS, SECRET = "sandbox-access-5622", "sandbox-secret-5622"
ACK = "order.merchant_order_id"


@pytest.fixture
def sandbox(app):
    with served_sandbox(6) as url:
        app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
        app.config["MERCATO_CONNECTOR_BACKOFF_BASE"] = 0.01
        yield url


@pytest.fixture
def test_account(app, store, sandbox):
    """A test-mode Lengow account whose first poll booked orders and recorded dry runs."""
    account = create_account(
        store,
        "lengow",
        "Lengow Menzzo",
        settings={"account_id": "5622", "base_url": sandbox},
        secrets={"access_token": ACCESS, "secret": SECRET},
        by="test-suite",
    )
    run = import_orders(account)
    assert run.imported_count > 0, run.error_message
    return account


@pytest.fixture
def admin(app):
    make_user("admin@mercato.test", admin=True)
    return logged_in(app, "admin@mercato.test")


def owed_calls(account) -> list[OutboundCall]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(OutboundCall)
            .where(OutboundCall.account_id == account.id)
            .order_by(OutboundCall.id)
        )
    )


def first_order(account) -> Order:
    return db.session.scalar(
        select(Order).where(Order.account_id == account.id).order_by(Order.id).limit(1)
    )


def row_of(html: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}".*?</tr>', html, re.S).group(0)


def badges(html: str) -> list[str]:
    return re.findall(r'class="mode-badge mode-(\w+)" data-mode="\w+"', html)


def confirm_page(client, account):
    page = client.get(f"/store/acme/accounts/{account.id}/live")
    assert page.status_code == 200, page.text
    token = re.search(r'name="owed_token" value="([^"]+)"', page.text).group(1)
    return page, token


def confirm(client, account, page, token, choice="send"):
    return client.post(
        f"/store/acme/accounts/{account.id}/live",
        data={"csrf_token": csrf_from(page.text), "owed_token": token, "owed": choice},
    )


# -- what test mode shows -------------------------------------------------------------------


def test_a_test_mode_order_says_not_sent_and_shows_the_recorded_request(
    store_client, test_account, sandbox
):
    order = first_order(test_account)
    listing = store_client.get("/store/acme/orders").text
    row = row_of(listing, f"order-{order.id}")
    assert 'data-ack="dry_run"' in row and "not sent" in row and "test mode" in row
    assert "ack-pending" not in row and ">pending<" not in row
    assert 'data-mode="test"' in row
    page = store_client.get(f"/store/acme/orders/{order.id}").text
    ack = re.search(r'<dd id="ack".*?</dd>', page, re.S).group(0)
    assert "Not sent: test mode." in ack and "next order import" not in ack
    # The exact request the dry run recorded: method, URL and JSON body.
    request = re.search(r'<section id="ack-request".*?</section>', page, re.S).group(0)
    assert 'data-status="dry_run"' in request
    assert f"PATCH {sandbox}/v3.0/orders/moi/" in request
    for field in (
        "&#34;account_id&#34;: 5622",
        f"&#34;marketplace_order_id&#34;: &#34;{order.channel_order_id}&#34;",
        f"&#34;merchant_order_id&#34;: [\n    &#34;{order.id}&#34;",
    ):
        assert field in request, field
    assert ACCESS not in page and SECRET not in page
    assert 'id="order-account"' in page and 'data-mode="test"' in page


def test_a_recorded_request_never_shows_a_secret(store_client, test_account):
    """Masked when recorded; masked again when shown (a row written before masking, or by
    hand, carries it): the order page and the account's calls list both."""
    call = owed_calls(test_account)[0]
    call.url = f"{call.url}?token={ACCESS}"
    call.body = {**call.body, "note": f"secret {SECRET} inside <b>bold</b>"}
    db.session.commit()
    pages = [
        store_client.get(f"/store/acme/orders/{call.subject_id}").text,
        store_client.get(f"/store/acme/accounts/{test_account.id}").text,
    ]
    for page in pages:
        assert ACCESS not in page and SECRET not in page
        assert "token=********" in page and "secret ******** inside" in page
        assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page  # escaped


def test_every_page_of_the_account_its_orders_and_feeds_shows_its_mode(
    app, store_client, admin, test_account
):
    order = first_order(test_account)
    feed = db.session.scalar(
        select(Feed).where(Feed.account_id == test_account.id, Feed.kind == "import_orders")
    )
    run = db.session.scalar(select(Run).where(Run.account_id == test_account.id))
    run.feed_id = feed.id  # the poll as its feed's execution
    db.session.commit()
    # Each page, and where on it the account's mode (an execution's: the mode it ran in) is.
    pages = {
        "accounts": ("/store/acme/accounts", f'id="a{test_account.id}"', "</tr>"),
        "account": (f"/store/acme/accounts/{test_account.id}", "<h1", "</h1>"),
        "orders": ("/store/acme/orders", f'id="order-{order.id}"', "</tr>"),
        "order": (f"/store/acme/orders/{order.id}", 'id="order-account"', "</dd>"),
        "feeds": ("/store/acme/feeds", f'id="feed-{feed.id}"', "</tr>"),
        "feed": (f"/store/acme/feeds/{feed.id}", 'id="feed-mode"', "</p>"),
        "executions": (
            "/store/acme/integration/executions",
            f'id="run-{run.id}"',
            "</tr>",
        ),
        "execution": (f"/store/acme/integration/executions/{run.id}", 'id="run-account"', "</dd>"),
    }

    def mode_on(name: str) -> str:
        url, start_at, end_at = pages[name]
        page = store_client.get(url)
        assert page.status_code == 200, (name, page.status_code)
        start = page.text.index(start_at)
        found = badges(page.text[start : page.text.index(end_at, start)])
        assert len(found) == 1, (name, found)
        return found[0]

    assert {name: mode_on(name) for name in pages} == dict.fromkeys(pages, "test")
    assert "Test mode:" in store_client.get(pages["execution"][0]).text

    page, token = confirm_page(admin, test_account)
    assert confirm(admin, test_account, page, token).status_code == 302
    # Live now everywhere; an execution keeps the mode it ran in: the poll ran in test mode.
    assert {name: mode_on(name) for name in pages} == {
        **dict.fromkeys(pages, "live"),
        "executions": "test",
        "execution": "test",
    }
    assert "(then; live now)" in store_client.get(pages["execution"][0]).text


# -- going live -----------------------------------------------------------------------------


def test_going_live_shows_what_is_owed_then_sends_it_once_on_confirmation(
    app, admin, test_account, sandbox
):
    booked = len(owed_calls(test_account))
    oldest = min(c.created_at for c in owed_calls(test_account))
    accounts = admin.get("/store/acme/accounts").text
    assert f"{booked} call(s) recorded, not sent" in accounts
    assert f'href="/store/acme/accounts/{test_account.id}/live"' in accounts

    # Step one: what is owed, per kind, counted, with the oldest; nothing changes yet.
    page, token = confirm_page(admin, test_account)
    owed = re.search(r'<table class="compact" id="owed">.*?</table>', page.text, re.S).group(0)
    kind = re.search(rf'<tr data-action="{ACK}">.*?</tr>', owed, re.S).group(0)
    assert "Merchant order ids" in kind and f"<strong>{booked}</strong>" in kind
    assert oldest.strftime("%d %b %Y %H:%M") in kind
    assert f"PATCH {sandbox}/v3.0/orders/moi/" in kind  # the oldest call's exact request
    assert 'name="owed" value="send" checked' in page.text
    assert 'name="owed" value="discard" >' in page.text  # offered, not chosen
    db.session.refresh(test_account)
    assert not test_account.is_live and not queue("default").jobs
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == 0

    # Step two: confirmed with the default choice. Recorded with who, when, what was owed.
    done = confirm(admin, test_account, page, token)
    assert done.status_code == 302
    assert done.headers["Location"] == f"/store/acme/accounts/{test_account.id}"
    db.session.refresh(test_account)
    assert test_account.is_live
    change = db.session.scalar(
        select(AccountModeChange)
        .where(AccountModeChange.account_id == test_account.id)
        .order_by(AccountModeChange.id.desc())
        .limit(1)
    )
    assert (change.from_mode, change.to_mode, change.changed_by) == (
        "test",
        "live",
        "admin@mercato.test",
    )
    assert change.owed_count == booked and change.owed_choice == "send"
    assert change.owed == {ACK: {"count": booked, "oldest": oldest.isoformat()}}
    assert (utcnow() - change.changed_at).total_seconds() < 60
    calls = owed_calls(test_account)
    assert {c.status for c in calls} == {"pending"}
    assert {c.mode_change_id for c in calls} == {change.id}
    # The worker sends each, once.
    assert [j.func_name for j in queue("default").jobs] == ["jobs.runs.wake"]
    assert work_default_queue()
    assert {c.status for c in owed_calls(test_account)} == {"sent"}
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == booked

    # The account page shows the history; going live again is refused, nothing more sent.
    account_page = admin.get(f"/store/acme/accounts/{test_account.id}").text
    history = re.search(r'<table class="compact" id="mode-history">.*?</table>', account_page, re.S)
    newest = re.search(r'<tr data-to="live">.*?</tr>', history.group(0), re.S).group(0)
    assert "admin@mercato.test" in newest and f"{booked} owed call(s), sent" in newest
    assert change.changed_at.strftime("%d %b %Y %H:%M:%S") in newest
    assert "test-suite" in history.group(0)  # the creation, in test mode
    again = confirm(admin, test_account, page, token)
    assert again.status_code == 302
    assert "live already" in admin.get(again.headers["Location"]).text
    assert not queue("default").jobs  # nothing more queued
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == booked
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AccountModeChange)
            .where(AccountModeChange.account_id == test_account.id)
        )
        == 2
    )


def test_discarding_what_is_owed_never_sends_it_and_says_so(
    app, admin, store_client, test_account, sandbox
):
    booked = len(owed_calls(test_account))
    order = first_order(test_account)
    # One of them had failed once while live: its retry message goes with it.
    message_run = Run(store_id=test_account.store_id, account_id=test_account.id, kind="outbound")
    db.session.add(message_run)
    db.session.flush()
    db.session.add(
        Message(
            import_job_id=message_run.id,
            severity="retry",
            error_type="outbound_failed",
            error_message="not sent",
            subject_type="order",
            subject_id=order.id,
        )
    )
    db.session.commit()
    page, token = confirm_page(admin, test_account)
    assert confirm(admin, test_account, page, token, "discard").status_code == 302
    db.session.refresh(test_account)
    assert test_account.is_live
    calls = owed_calls(test_account)
    assert len(calls) == booked and {c.status for c in calls} == {"discarded"}
    assert all(c.discarded_at and c.sent_at is None for c in calls)
    change = db.session.get(AccountModeChange, calls[0].mode_change_id)
    assert (change.owed_choice, change.owed_count) == ("discard", booked)
    message = db.session.scalar(select(Message).where(Message.error_type == "outbound_failed"))
    assert message.resolved_at is not None and "discarded" in message.resolved_by
    # Nothing is queued, and a step that runs anyway sends nothing.
    assert not queue("default").jobs
    assert send_owed(test_account)["sent"] == 0
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == 0
    # The pages say it.
    row = row_of(store_client.get("/store/acme/orders").text, f"order-{order.id}")
    assert 'data-ack="discarded"' in row and "discarded" in row
    detail = store_client.get(f"/store/acme/orders/{order.id}").text
    ack = re.search(r'<dd id="ack".*?</dd>', detail, re.S).group(0)
    assert "Not sent: discarded" in ack and "admin@mercato.test" in ack
    assert "(discarded: never sent)" in detail
    history = admin.get(f"/store/acme/accounts/{test_account.id}").text
    assert f"{booked} owed call(s), discarded (never sent)" in history


def test_a_confirmation_of_figures_that_changed_does_nothing_and_shows_the_new_ones(
    app, admin, test_account
):
    booked = len(owed_calls(test_account))
    page, token = confirm_page(admin, test_account)
    # An import records one more while the page is open.
    extra = owed_calls(test_account)[0]
    db.session.add(
        OutboundCall(
            store_id=extra.store_id,
            account_id=extra.account_id,
            action=extra.action,
            subject_type="order",
            subject_id=extra.subject_id,
            dedup_key="one-more",
            params=extra.params,
            method=extra.method,
            url=extra.url,
            body=extra.body,
            status="dry_run",
            dry_run_at=utcnow(),
        )
    )
    db.session.commit()
    answer = confirm(admin, test_account, page, token, "discard")
    assert answer.status_code == 409
    assert "What is owed changed while this page was open" in answer.text
    assert f"<strong>{booked + 1}</strong>" in answer.text
    assert 'name="owed" value="discard" checked' in answer.text  # the choice kept
    db.session.refresh(test_account)
    assert not test_account.is_live
    assert {c.status for c in owed_calls(test_account)} == {"dry_run"}
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AccountModeChange)
            .where(AccountModeChange.account_id == test_account.id)
        )
        == 1
    )
    fresh = re.search(r'name="owed_token" value="([^"]+)"', answer.text).group(1)
    assert confirm(admin, test_account, answer, fresh, "discard").status_code == 302
    assert len([c for c in owed_calls(test_account) if c.status == "discarded"]) == booked + 1


def test_a_choice_that_is_neither_send_nor_discard_is_refused(admin, test_account):
    page, token = confirm_page(admin, test_account)
    answer = confirm(admin, test_account, page, token, "maybe")
    assert answer.status_code == 422 and "Choose whether to send or discard" in answer.text
    db.session.refresh(test_account)
    assert not test_account.is_live


def test_only_an_admin_switches_modes_and_never_through_the_edit_form(
    app, store_client, admin, test_account, sandbox
):
    url = f"/store/acme/accounts/{test_account.id}"
    csrf = csrf_from(store_client.get("/store/acme/accounts").text)
    assert store_client.get(f"{url}/live").status_code == 404
    assert store_client.post(f"{url}/live", data={"csrf_token": csrf}).status_code == 404
    assert store_client.post(f"{url}/test-mode", data={"csrf_token": csrf}).status_code == 404
    account_page = store_client.get(url).text
    assert (
        "Go live" not in account_page and "An administrator takes an account live" in account_page
    )
    assert "Go live" not in store_client.get("/store/acme/accounts").text
    # The edit form carries no mode, even for an admin: a tick posted to it changes nothing.
    form = admin.get(f"{url}/edit")
    assert 'name="live"' not in form.text and "account's page" in form.text
    posted = admin.post(
        f"{url}/edit",
        data={
            "csrf_token": csrf_from(form.text),
            "name": "Lengow Menzzo",
            "setting_account_id": "5622",
            "setting_base_url": sandbox,
            "live": "y",
        },
    )
    assert posted.status_code == 302
    db.session.refresh(test_account)
    assert not test_account.is_live
    # The creation form's box says what test mode is, as the pages do.
    new = admin.get("/store/acme/accounts/new/lengow").text
    assert "its orders come in for real" in new and "orders are real" not in new


def test_back_to_test_mode_from_the_account_page(app, admin, test_account):
    page, token = confirm_page(admin, test_account)
    confirm(admin, test_account, page, token)
    url = f"/store/acme/accounts/{test_account.id}"
    account_page = admin.get(url).text
    assert "Back to test mode" in account_page
    back = admin.post(f"{url}/test-mode", data={"csrf_token": csrf_from(account_page)})
    assert back.status_code == 302
    db.session.refresh(test_account)
    assert not test_account.is_live
    assert {c.status for c in owed_calls(test_account)} == {"dry_run"}  # nothing was sent
    changes = db.session.scalars(
        select(AccountModeChange)
        .where(AccountModeChange.account_id == test_account.id)
        .order_by(AccountModeChange.id)
    ).all()
    assert [(c.to_mode, c.changed_by) for c in changes][-1] == ("test", "admin@mercato.test")
    assert admin.get(f"{url}/live").status_code == 200  # and the way live again is open


def test_a_retired_account_does_not_go_live(admin, test_account):
    test_account.retire()
    db.session.commit()
    answer = admin.get(f"/store/acme/accounts/{test_account.id}/live")
    assert answer.status_code == 302
    assert "reinstate it" in admin.get(answer.headers["Location"]).text
    db.session.refresh(test_account)
    assert not test_account.is_live


def test_the_account_page_lists_its_calls_with_their_requests_filtered_and_paged(
    store_client, test_account, sandbox
):
    calls = owed_calls(test_account)
    url = f"/store/acme/accounts/{test_account.id}"
    page = store_client.get(url).text
    table = re.search(r'<div id="calls".*?</table>', page, re.S).group(0)
    assert table.count('<tr id="call-') == len(calls)
    newest = row_of(table, f"call-{calls[-1].id}")
    assert 'data-status="dry_run"' in newest and "dry run: not sent" in newest
    assert f"PATCH {sandbox}/v3.0/orders/moi/" in newest
    assert f"&#34;merchant_order_id&#34;: [\n    &#34;{calls[-1].subject_id}&#34;" in newest
    summary = re.search(r'id="owed-summary".*?</table>', page, re.S).group(0)
    assert f'<td class="count">{len(calls)}</td>' in summary
    # Filter: the fragment for HTMX, the full page otherwise; the address bar follows.
    fragment = store_client.get(f"{url}/calls?status=sent", headers=HX)
    assert fragment.status_code == 200 and "No call matches this filter." in fragment.text
    assert fragment.headers["HX-Replace-Url"] == f"{url}?status=sent"
    assert store_client.get(f"{url}/calls?status=sent").headers["Location"] == (
        f"{url}?status=sent"
    )
    owed = store_client.get(f"{url}?status=owed").text
    assert owed.count('<tr id="call-') == len(calls)
    assert store_client.get(f"{url}?status=bogus").status_code == 200  # ignored, all shown
    # Not polling in test mode: nothing is being sent.
    assert 'data-polling="no"' in page


def test_switching_modes_needs_the_csrf_token(admin, test_account):
    url = f"/store/acme/accounts/{test_account.id}"
    assert admin.post(f"{url}/live", data={"owed": "send"}).status_code == 400
    db.session.refresh(test_account)
    assert not test_account.is_live
    page, token = confirm_page(admin, test_account)
    confirm(admin, test_account, page, token)
    assert admin.post(f"{url}/test-mode").status_code == 400
    db.session.refresh(test_account)
    assert test_account.is_live

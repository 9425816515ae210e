"""The error inbox: open errors grouped by cause, the bell, retry (one, a group, the sweep)
and resolve, on SQLite and PostgreSQL with a real RQ worker and the marketplace sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import update

from tests.inprocess_worker import InProcessWorker
from tests.sandbox_server import sandbox_account as live_sandbox_account
from tests.sandbox_server import served_sandbox
from tests.webapp.conftest import csrf_from
from webapp.accounts import create_account
from webapp.extensions import db, queue
from webapp.inbox import retry
from webapp.models import (
    MarketplaceProduct,
    Message,
    Order,
    OrderItem,
    Product,
    Run,
)
from webapp.models import runs as R
from webapp.models.base import utcnow


def a_run(store, kind="order_import", account=None):
    run = Run(
        kind=kind,
        store_id=store.id,
        account_id=account.id if account else None,
        status=R.COMPLETED_WITH_ERRORS,
    )
    db.session.add(run)
    db.session.commit()
    return run


def an_order(store, account, sku="SKU-NEW", channel_order_id="AMZ-1"):
    order = Order(
        store_id=store.id,
        account_id=account.id,
        channel="amazon_fr",
        channel_order_id=channel_order_id,
        marketplace_status="waiting_shipment",
        status="confirmed",
        currency="EUR",
    )
    order.items.append(OrderItem(sku=sku, quantity=1, matched=False))
    db.session.add(order)
    db.session.commit()
    return order


def note(run, error_type, *, severity=R.ERROR, subject=None, row_number=None, text="m"):
    message = Message(
        import_job_id=run.id,
        severity=severity,
        error_type=error_type,
        error_message=text,
        row_number=row_number,
        subject_type=subject[0] if subject else None,
        subject_id=subject[1] if subject else None,
        identifier=subject[2] if subject and len(subject) > 2 else None,
    )
    db.session.add(message)
    db.session.commit()
    return message


def add_product(store, sku):
    mp = MarketplaceProduct(
        store_id=store.id, marketplace="Letzshop", marketplace_product_id=sku, content_hash=1
    )
    db.session.add(mp)
    db.session.flush()
    db.session.add(Product(store_id=store.id, marketplace_product_id=mp.id))
    db.session.commit()


@pytest.fixture
def account(app, store):
    return create_account(
        store,
        "lengow",
        "Lengow Menzzo",
        settings={"account_id": "5622"},
        secrets={"access_token": "a", "secret": "s"},
    )


@pytest.fixture
def inbox(app, store, other_store, account):
    """acme: two unknown SKUs (orders), a feed row error (not in the inbox), a resolved
    error and an info; globex: one error of its own."""
    run = a_run(store, account=account)
    first = an_order(store, account, "SKU-NEW", "AMZ-1")
    second = an_order(store, account, "SKU-GONE", "AMZ-2")
    m1 = note(run, "unknown_sku", subject=("order", first.id, "AMZ-1"), text="no SKU-NEW")
    m2 = note(run, "unknown_sku", subject=("order", second.id, "AMZ-2"), text="no SKU-GONE")
    feed = a_run(store, kind="product_import")
    note(feed, "missing_title", row_number=7)
    old = note(run, "unknown_sku", subject=("order", first.id))
    old.resolved_at = utcnow()
    note(run, "parked", severity=R.INFO)
    theirs = note(a_run(other_store), "connector_error", text="<script>x</script>")
    db.session.commit()
    return {"m1": m1, "m2": m2, "first": first, "second": second, "theirs": theirs}


def work():
    q = queue("default")
    InProcessWorker([q], connection=q.connection).work(burst=True)


def post(client, url, **data):
    csrf = csrf_from(client.get("/store/acme/inbox").text)
    return client.post(url, data={"csrf_token": csrf, **data}, headers={"HX-Request": "true"})


def test_inbox_groups_open_errors_by_cause_and_links_subjects(store_client, inbox):
    page = store_client.get("/store/acme/inbox")
    assert page.status_code == 200
    html = page.text
    assert html.count('class="inbox-group"') == 1  # row errors, info, resolved: not here
    assert 'data-cause="unknown_sku"' in html and ">2</span>" in html
    assert "no SKU-NEW" in html and "no SKU-GONE" in html
    assert "missing_title" not in html
    assert "&lt;script&gt;" not in html and "connector_error" not in html  # globex's
    # Each entry links to its order and to its execution (an order import, not a product
    # import's page: "Source: upload: None" was what these links opened).
    run_id = inbox["m1"].import_job_id
    assert f'href="/store/acme/orders/{inbox["first"].id}"' in html
    assert f'href="/store/acme/integration/executions/{run_id}"' in html
    assert f"/store/acme/imports/{run_id}" not in html


def test_bell_counts_open_errors_of_the_users_store_admin_all(store_client, admin_client, inbox):
    bell = store_client.get("/inbox/bell", headers={"HX-Request": "true"}).text
    assert 'data-count="2"' in bell and "/store/acme/inbox" in bell
    bell = admin_client.get("/inbox/bell", headers={"HX-Request": "true"}).text
    assert 'data-count="3"' in bell and "/admin/inbox" in bell
    admin = admin_client.get("/admin/inbox").text
    assert "&lt;script&gt;x&lt;/script&gt;" in admin and "<script>x" not in admin


def test_resolve_one_then_a_group(store_client, inbox):
    m1 = inbox["m1"]
    response = post(store_client, f"/store/acme/inbox/messages/{m1.id}/resolve")
    assert response.status_code == 200 and "Marked resolved" in response.text
    db.session.expire_all()
    assert db.session.get(Message, m1.id).resolved_by == "shop@acme.test"
    assert 'data-count="1"' in store_client.get("/inbox/bell").text
    response = post(store_client, "/store/acme/inbox/causes/unknown_sku/resolve")
    assert "1 marked resolved" in response.text and 'data-inbox="empty"' in response.text
    # The group is gone: acting on it again is acting on nothing.
    assert post(store_client, "/store/acme/inbox/causes/unknown_sku/resolve").status_code == 404
    assert post(store_client, "/store/acme/inbox/causes/unknown_sku/retry").status_code == 404


def test_actions_need_csrf_and_stay_in_the_store(store_client, inbox):
    m1, theirs = inbox["m1"], inbox["theirs"]
    assert store_client.post(f"/store/acme/inbox/messages/{m1.id}/resolve").status_code == 400
    # Another store's message through one's own store code: does not exist.
    for action in ("retry", "resolve"):
        url = f"/store/acme/inbox/messages/{theirs.id}/{action}"
        assert post(store_client, url).status_code == 404
    db.session.expire_all()
    assert db.session.get(Message, theirs.id).resolved_at is None


def test_retry_one_from_the_inbox_runs_in_the_worker(store_client, store, inbox):
    m1, m2 = inbox["m1"], inbox["m2"]
    response = post(store_client, f"/store/acme/inbox/messages/{m1.id}/retry")
    assert "Retrying 1 message" in response.text and "retrying…" in response.text
    assert 'hx-trigger="every 2s"' in response.text  # the inbox watches its retry
    work()  # nothing changed yet: the SKU is still unknown
    db.session.expire_all()
    m1 = db.session.get(Message, m1.id)
    assert m1.resolved_at is None and m1.attempts == 1
    assert "SKU-NEW" in m1.last_retry_error
    page = store_client.get("/store/acme/inbox").text
    assert "retrying…" not in page and "1 retry" in page

    add_product(store, "SKU-NEW")  # the merchant adds the product, then retries the group
    post(store_client, "/store/acme/inbox/causes/unknown_sku/retry")
    work()
    db.session.expire_all()
    assert db.session.get(Message, m1.id).resolved_by == "shop@acme.test"
    assert db.session.get(Message, m2.id).resolved_at is None  # SKU-GONE is still unknown
    item = db.session.get(Order, inbox["first"].id).items[0]
    assert item.matched and item.product_id is not None


def test_a_cause_without_a_handler_cannot_be_retried(store_client, store, account):
    message = note(a_run(store, account=account), "bad_address", subject=("order", 1))
    response = post(store_client, f"/store/acme/inbox/messages/{message.id}/retry")
    assert response.status_code == 409 and "cannot be retried" in response.text
    assert post(store_client, "/store/acme/inbox/causes/bad_address/retry").status_code == 404
    assert len(queue("default")) == 0


def test_backoff_is_exponential_capped_and_honours_retry_after():
    waits = [retry.backoff(n) for n in range(1, 12)]
    for n, wait in enumerate(waits, start=1):
        exp = min(retry.BACKOFF_CEILING, retry.BACKOFF_BASE * 2 ** (n - 1))
        assert exp / 2 <= wait <= exp
    assert waits[-1] <= retry.BACKOFF_CEILING
    assert retry.backoff(1, retry_after=300) >= timedelta(seconds=300)
    assert retry.backoff(1, retry_after=10**6) == retry.BACKOFF_CEILING


# The sweep against the sandbox -----------------------------------------------------------


@pytest.fixture
def sandbox():
    with served_sandbox(30) as url:
        yield url


@pytest.fixture
def sandbox_account(app, store, sandbox):
    return live_sandbox_account(app, store, sandbox, account_id="6395", name="Lengow Cotecosy")


def test_the_sweep_retries_with_backoff_then_raises_to_error(sandbox, sandbox_account):
    from webapp.orders.service import import_orders

    requests.post(f"{sandbox}/_sandbox/faults", json={"server_error": {"every": 1}}, timeout=5)
    failed = import_orders(sandbox_account, trigger="schedule")
    assert failed.status == R.FAILED
    [message] = Message.query.filter_by(import_job_id=failed.id).all()
    assert (message.severity, message.error_type) == (R.RETRY, "connector_error")
    assert message.subject_type == "account"

    tally = retry.sweep()
    assert tally == {"resolved": 0, "failed": 1, "raised": 0}
    db.session.expire_all()
    # One failure, one open message: the retry's own message carries the attempt count.
    open_ = Message.query.filter_by(resolved_at=None, error_type="connector_error").all()
    assert len(open_) == 1 and open_[0].attempts == 1
    assert open_[0].next_retry_at > utcnow() + timedelta(seconds=25)
    assert retry.sweep() == {"resolved": 0, "failed": 0, "raised": 0}  # not due yet

    for _ in range(retry.MAX_ATTEMPTS - 1):
        current = Message.query.filter_by(resolved_at=None, error_type="connector_error").one()
        current.next_retry_at = utcnow() - timedelta(seconds=1)  # time passes
        db.session.commit()
        retry.sweep()
        db.session.expire_all()
    [raised] = Message.query.filter_by(resolved_at=None, error_type="connector_error").all()
    assert raised.severity == R.ERROR and raised.attempts == retry.MAX_ATTEMPTS
    assert raised.next_retry_at is None
    assert retry.sweep() == {"resolved": 0, "failed": 0, "raised": 0}  # a person's now

    # The marketplace recovers; a person retries from the inbox and it resolves.
    requests.delete(f"{sandbox}/_sandbox/faults", timeout=5)
    assert retry.retry_ids([raised.id], "shop@acme.test") == {
        "resolved": 1,
        "failed": 0,
        "skipped": 0,
    }
    assert Message.query.filter_by(resolved_at=None, error_type="connector_error").count() == 0


def test_a_later_successful_poll_resolves_a_retry_message(sandbox, sandbox_account):
    from webapp.orders.service import import_orders

    requests.post(f"{sandbox}/_sandbox/faults", json={"server_error": {"every": 1}}, timeout=5)
    import_orders(sandbox_account)
    requests.delete(f"{sandbox}/_sandbox/faults", timeout=5)
    ok = import_orders(sandbox_account)
    assert ok.status in (R.COMPLETED, R.COMPLETED_WITH_ERRORS)
    runs_before = Run.query.count()
    assert retry.sweep()["resolved"] == 1
    assert Run.query.count() == runs_before  # proven by the later poll: no extra poll


def test_an_unsent_merchant_order_id_is_resent_from_the_inbox(sandbox, sandbox_account):
    from webapp.models.outbound import SENT, OutboundCall
    from webapp.orders.service import import_orders
    from webapp.outbound import send_owed

    assert import_orders(sandbox_account).status in (R.COMPLETED, R.COMPLETED_WITH_ERRORS)
    requests.post(f"{sandbox}/_sandbox/faults", json={"server_error": {"every": 1}}, timeout=5)
    summary = send_owed(sandbox_account)
    assert summary["sent"] == 0 and summary["failed"] >= 1
    failed = Message.query.filter_by(error_type="outbound_failed", resolved_at=None).all()
    assert failed and all(m.severity == R.RETRY and m.subject_type == "order" for m in failed)

    # Still down: the retry fails, the message stays open with the marketplace's answer.
    tally = retry.retry_ids([failed[0].id], "shop@acme.test")
    assert tally == {"resolved": 0, "failed": 1, "skipped": 0}
    requests.delete(f"{sandbox}/_sandbox/faults", timeout=5)

    def sent_so_far() -> int:
        state = requests.get(f"{sandbox}/_sandbox/state?ids=0", timeout=5).json()
        return state["counters"]["merchant_order_ids_set"]

    # The sweep is not a second loop: a failed call waits for the one sender's backoff.
    before, due_at = sent_so_far(), {c.id: c.next_attempt_at for c in OutboundCall.query}
    assert retry.sweep()["resolved"] == 0
    db.session.expire_all()
    assert sent_so_far() == before
    assert {c.id: c.next_attempt_at for c in OutboundCall.query} == due_at
    # A person's retry asks that same sender to send this one now ...
    assert retry.retry_ids([failed[0].id], "shop@acme.test")["resolved"] == 1
    assert sent_so_far() == before + 1
    # ... and the sender's own retry, when the backoff ends, sends the rest and closes them.
    db.session.execute(
        update(OutboundCall)
        .where(OutboundCall.status != SENT)
        .values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    send_owed(sandbox_account)
    db.session.expire_all()
    order_ids = {m.subject_id for m in failed}
    calls = OutboundCall.query.filter(OutboundCall.subject_id.in_(order_ids)).all()
    assert calls and all(c.status == SENT for c in calls)
    assert sent_so_far() >= len(order_ids)
    still_open = Message.query.filter_by(error_type="outbound_failed", resolved_at=None).count()
    assert still_open == 0
    assert all(m.resolved_by.startswith("execution #") for m in failed[1:])


# The inbox pages: pages, filters, names, links, the bell ------------------------------------


def many(run, cause, count, *, severity=R.ERROR, ago=timedelta(0), account=None):
    now = utcnow()
    rows = [
        Message(
            import_job_id=run.id,
            severity=severity,
            error_type=cause,
            error_message=f"{cause} number {i}",
            subject_type="account" if account else None,
            subject_id=account.id if account else None,
            created_at=now - ago - timedelta(seconds=i),
        )
        for i in range(count)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return rows


def rows_of(html: str) -> list[str]:
    import re

    return re.findall(r'<tr data-message="(\d+)"', html)


def test_a_cause_pages_through_every_entry(store_client, store, account):
    run = a_run(store, account=account)
    made = many(run, "outbound_failed", 30)
    overview = store_client.get("/store/acme/inbox").text
    assert len(rows_of(overview)) == 5  # the newest few of each cause ...
    assert "Show all 30" in overview  # ... and a way to every other one
    assert "/store/acme/inbox?cause=outbound_failed" in overview
    first = store_client.get("/store/acme/inbox?cause=outbound_failed").text
    second = store_client.get("/store/acme/inbox?cause=outbound_failed&page=2").text
    newest_first = [str(m.id) for m in made]  # made newest first
    assert rows_of(first) == newest_first[:25] and rows_of(second) == newest_first[25:]
    assert "Page 2 of 2" in second and "30 in all" in second
    # A swap by htmx: the fragment alone, and the address bar follows.
    swap = store_client.get(
        "/store/acme/inbox?cause=outbound_failed&page=2", headers={"HX-Request": "true"}
    )
    assert swap.text.lstrip().startswith('<div id="inbox"')
    assert swap.headers["HX-Replace-Url"] == "/store/acme/inbox?cause=outbound_failed&page=2"
    assert "HX-Request" in swap.headers["Vary"]


def test_filters_by_account_severity_and_age_with_account_names(
    store_client, store, other_store, account
):
    letzshop = create_account(store, "letzshop", "Letzshop LU", secrets={"api_token": "t"})
    lengow_run = a_run(store, account=account)
    letzshop_run = a_run(store, account=letzshop)
    mine = many(lengow_run, "connector_error", 2, account=account)
    theirs = many(letzshop_run, "connector_error", 3, account=letzshop)
    retrying = many(letzshop_run, "outbound_failed", 1, severity=R.RETRY)
    old = many(lengow_run, "outbound_failed", 1, ago=timedelta(days=10))
    many(a_run(other_store), "connector_error", 4)

    def ids(query):
        response = store_client.get(f"/store/acme/inbox?{query}", headers={"HX-Request": "true"})
        return set(map(int, rows_of(response.text))), response

    found, response = ids(f"account={account.id}")
    assert found == {m.id for m in mine + old}
    assert response.headers["HX-Replace-Url"] == f"/store/acme/inbox?account={account.id}"
    assert "Lengow Menzzo" in response.text  # accounts by name, in the rows and the filter
    assert f'<option value="{letzshop.id}" >Letzshop LU' in response.text
    found, _ = ids("cause=connector_error")
    assert found == {m.id for m in mine + theirs}  # not globex's
    found, _ = ids("severity=retry")
    assert found == {retrying[0].id}  # still retried by itself: not in the default view
    assert retrying[0].id not in ids("")[0]
    found, _ = ids("severity=open&cause=outbound_failed")
    assert found == {retrying[0].id, old[0].id}
    found, _ = ids("age=old7")
    assert found == {old[0].id}
    found, _ = ids("age=1d&cause=outbound_failed")
    assert found == set()
    found, response = ids("cause=connector_error&account=999999")
    assert found == set() and "No open" in response.text


def test_resolve_all_acts_on_the_filtered_group_only(store_client, store, account):
    letzshop = create_account(store, "letzshop", "Letzshop LU", secrets={"api_token": "t"})
    mine = many(a_run(store, account=account), "connector_error", 3, account=account)
    theirs = many(a_run(store, account=letzshop), "connector_error", 2, account=letzshop)
    response = post(
        store_client,
        "/store/acme/inbox/causes/connector_error/resolve",
        account=str(account.id),
        cause="connector_error",
    )
    assert "3 marked resolved" in response.text
    db.session.expire_all()
    assert all(db.session.get(Message, m.id).resolved_at for m in mine)
    assert not any(db.session.get(Message, m.id).resolved_at for m in theirs)
    # The answer stays on the view the person had, and carries the bell's new count.
    assert 'hx-swap-oob="true"' in response.text and 'data-count="2"' in response.text


def test_admin_inbox_filters_by_store(admin_client, store, other_store, account):
    many(a_run(store, account=account), "connector_error", 2, account=account)
    theirs = many(a_run(other_store), "outbound_failed", 3)
    page = admin_client.get(f"/admin/inbox?store={other_store.id}")
    assert set(map(int, rows_of(page.text))) == {m.id for m in theirs}
    assert other_store.name in page.text
    swap = admin_client.get(
        f"/admin/inbox?store={other_store.id}&cause=outbound_failed",
        headers={"HX-Request": "true"},
    )
    assert (
        swap.headers["HX-Replace-Url"]
        == f"/admin/inbox?store={other_store.id}&cause=outbound_failed"
    )
    assert len(rows_of(swap.text)) == 3


def test_links_open_the_order_the_execution_and_the_account(store_client, store, account):
    run = a_run(store, account=account)  # an order poll run from the CLI: no feed
    order = an_order(store, account, "SKU-X", "AMZ-9")
    note(run, "outbound_failed", subject=("order", order.id, "AMZ-9"))
    note(run, "connector_error", subject=("account", account.id))
    html = store_client.get("/store/acme/inbox").text
    assert f'href="/store/acme/orders/{order.id}">order AMZ-9' in html
    assert f'href="/store/acme/accounts/{account.id}">account Lengow Menzzo' in html
    execution = f"/store/acme/integration/executions/{run.id}"
    assert f'href="{execution}"' in html
    page = store_client.get(execution)
    assert page.status_code == 200 and f"Execution #{run.id}" in page.text
    assert "Lengow Menzzo" in page.text and "upload" not in page.text
    order_page = store_client.get(f"/store/acme/orders/{order.id}")
    assert order_page.status_code == 200 and "AMZ-9" in order_page.text


def test_a_product_imports_own_page_stays_its_link(store_client, store):
    run = a_run(store, kind="product_import")
    note(run, "feed_unreadable", text="The feed could not be read")
    html = store_client.get("/store/acme/inbox").text
    assert f'href="/store/acme/imports/{run.id}"' in html


def test_an_unknown_sku_entry_shows_its_waiting_orders(store_client, store, account):
    from webapp.orders import matching

    run = a_run(store, account=account)
    orders = [an_order(store, account, "SKU-LOST", f"AMZ-{i}") for i in range(5)]
    [entry] = matching.record_unknown(run.id, store.id, account.id, ["SKU-LOST"])
    db.session.commit()
    html = store_client.get("/store/acme/inbox").text
    assert html.count('data-cause="unknown_sku"') == 1 and len(rows_of(html)) == 1  # 1 entry
    assert "5 orders waiting" in html and "and 2 more" in html
    for order in orders[-3:]:  # the newest three, linked
        assert f'href="/store/acme/orders/{order.id}" class="affected-order">' in html
    assert 'href="/store/acme/orders?q=SKU-LOST"' in html  # all of them: the orders search
    assert 'data-count="1"' in store_client.get("/inbox/bell").text  # one entry, not five
    assert entry


def test_the_bell_counts_up_to_999(store_client, store, account):
    from webapp.inbox import service

    many(a_run(store, account=account), "connector_error", service.BELL_CAP + 2)
    bell = store_client.get("/inbox/bell").text
    assert 'data-count="1000"' in bell and ">999+</span>" in bell


def test_the_actions_work_without_javascript_too(store_client, store, account):
    """Each action is a real form (its CSRF token inside): without htmx it posts and comes
    back to the same view of the inbox."""
    from tests.webapp.conftest import csrf_from

    made = many(a_run(store, account=account), "connector_error", 2, account=account)
    page = store_client.get(f"/store/acme/inbox?cause=connector_error&account={account.id}")
    csrf = csrf_from(page.text)
    response = store_client.post(
        f"/store/acme/inbox/messages/{made[0].id}/resolve",
        data={"csrf_token": csrf, "from": "store", "cause": "connector_error",
              "account": str(account.id)},
    )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"/store/acme/inbox?cause=connector_error&account={account.id}"
    )
    db.session.expire_all()
    assert db.session.get(Message, made[0].id).resolved_at is not None

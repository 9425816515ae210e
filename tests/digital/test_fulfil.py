"""Digital fulfilment end to end against the CodesWholesale fake over real HTTP: digital
lines marked at booking, keys from the pool first, the rest bought once through the one
sender (text, image and pre-order codes), a lost answer looked up by Mercato's reference, a
purchase in test mode recorded as a dry run. Each test runs on SQLite and, with
TEST_DATABASE_URL, on PostgreSQL. The keys e-mail sent over real SMTP, to ``sent`` and the
order fulfilled: tests/digital/test_e2e_mail.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import select, update

from connectors.codeswholesale import BUY_KEYS
from tests.digital.helpers import (
    book,
    channel_account,
    cw,
    cw_examples,
    cw_fault,
    keys_of,
    lines_of,
    order,
    pool_keys,
    product,
    run_for,
    supplier_account,
    unified,
)
from tests.sandbox_server import served_sandbox
from webapp.digital import fulfil
from webapp.extensions import db
from webapp.keys import codes
from webapp.models import DigitalKey, Message, OutboundCall, StockMovement
from webapp.models.base import utcnow
from webapp.models.outbound import DRY_RUN, FAILED, SENT, UNKNOWN
from webapp.outbound import send_owed

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with served_sandbox(1, SANDBOX_CW_PRODUCTS=40) as url:
        yield url


@pytest.fixture
def url(sandbox):
    requests.post(f"{sandbox}/_sandbox/reset", timeout=5)
    return sandbox


def purchase(line_id: int) -> OutboundCall:
    return db.session.scalars(
        select(OutboundCall).where(
            OutboundCall.action == BUY_KEYS, OutboundCall.subject_id == line_id
        )
    ).one()


def sent_keys(store, smtp_server) -> set[str]:
    """Send the store's due e-mail over the real SMTP server: the one keys e-mail that
    arrives, and the keys it carries."""
    from webapp.mail import sender

    assert sender.send_due(store.id)["sent"] == 1
    (got,) = smtp_server.received
    text = got.get_body(preferencelist=("plain",)).get_content()
    return {line.strip()[2:] for line in text.splitlines() if line.strip().startswith("- ")}


def make_due(call: OutboundCall) -> None:
    call.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def test_booking_marks_the_lines_of_published_digital_products(app, store):
    account = channel_account(store)
    product(store, "cw-product-1", marketplace="codeswholesale", extra={"is_digital": "true"})
    product(store, "OWN-KEY", extra={"is_digital": "True"})
    product(store, "OWN-LICENCE", extra={"product_type": "digital"})
    product(store, "MUG")
    product(store, "cw-unpublished", marketplace="codeswholesale", publish=False)
    (order_id,) = book(
        account,
        [
            unified(
                "D-1",
                [
                    ("cw-product-1", 1),
                    ("OWN-KEY", 2),
                    ("OWN-LICENCE", 1),
                    ("MUG", 1),
                    ("cw-unpublished", 1),
                    ("NOBODY", 1),
                ],
            )
        ],
    )
    got = {
        line.sku: (line.is_digital, line.supplier_product_id, line.key_state)
        for line in lines_of(order_id)
    }
    assert got == {
        "cw-product-1": (True, "cw-product-1", "pending"),
        "OWN-KEY": (True, None, "pending"),
        "OWN-LICENCE": (True, None, "pending"),
        "MUG": (False, None, "none"),
        "cw-unpublished": (False, None, "none"),
        "NOBODY": (False, None, "none"),
    }
    # A key is a digital line's stock: only the physical lines reserve stock.
    reserved = db.session.scalars(
        select(StockMovement.sku).where(StockMovement.reason == "order_reserved")
    ).all()
    assert sorted(reserved) == ["MUG", "NOBODY", "cw-unpublished"]


def test_pool_keys_serve_a_line_and_a_short_pool_waits_in_the_inbox(app, store):
    account = channel_account(store)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    pool_keys(store, "OWN-KEY", 2)
    first, second = book(
        account, [unified("P-1", [("OWN-KEY", 1)]), unified("P-2", [("OWN-KEY", 2)])]
    )
    run = run_for(account)
    summary = fulfil.assign_keys(run, [first, second])
    assert summary["from_pool"] == 2 and summary["missing"] == 1 and summary["purchases"] == 0
    (line1,), (line2,) = lines_of(first), lines_of(second)
    assert line1.key_state == "assigned" and len(keys_of(line1.id)) == 1
    assert line2.key_state == "pending" and len(keys_of(line2.id)) == 1
    entry = db.session.scalars(
        select(Message).where(Message.error_type == "digital_keys_missing")
    ).one()
    assert entry.subject_id == second and "1 for SKU OWN-KEY" in entry.error_message
    assert "no CodesWholesale account" in entry.error_message
    # Run again: no second entry, no key given twice; keys uploaded: the line is served.
    fulfil.assign_keys(run_for(account), [first, second])
    assert db.session.query(Message).filter_by(error_type="digital_keys_missing").count() == 1
    pool_keys(store, "OWN-KEY", 1, prefix="MORE")
    fulfil.assign_keys(run_for(account), [second])
    db.session.expire_all()
    assert lines_of(second)[0].key_state == "assigned" and len(keys_of(line2.id)) == 2
    given = db.session.scalars(select(DigitalKey.order_item_id)).all()
    assert sorted(given) == sorted([line1.id, line2.id, line2.id])


def test_an_order_not_yet_valid_for_fulfilment_gets_no_key(app, store):
    account = channel_account(store)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    pool_keys(store, "OWN-KEY", 1)
    (order_id,) = book(account, [unified("W-1", [("OWN-KEY", 1)], status="pending")])
    summary = fulfil.assign_keys(run_for(account), [order_id])
    assert summary["skipped"] == 1 and not keys_of(lines_of(order_id)[0].id)


def test_text_image_and_pre_order_keys_are_bought_once_each(app, store, url):
    account = channel_account(store)
    supplier = supplier_account(app, store, url)
    kinds = cw_examples(url)
    text, image, pre = kinds["text"][0], kinds["image"][0], kinds["pre_order"][0]
    for pid in (text, image, pre):
        product(store, pid, marketplace="codeswholesale", extra={"is_digital": "true"})
    pool_keys(store, None, 1, supplier_product_id=text)  # the pool serves one first
    (order_id,) = book(account, [unified("B-1", [(text, 3), (image, 1), (pre, 1)])])
    summary = fulfil.assign_keys(run_for(account), [order_id])
    assert summary["from_pool"] == 1 and summary["purchases"] == 3 and summary["sent"] == 3
    db.session.expire_all()
    t_line, i_line, p_line = lines_of(order_id)
    sold = cw(url)["sold_by_reference"]
    assert sold == {
        fulfil.reference(t_line): 2,
        fulfil.reference(i_line): 1,
        fulfil.reference(p_line): 1,
    }
    t_keys = keys_of(t_line.id)
    assert [k.source for k in t_keys] == ["pool", "codeswholesale", "codeswholesale"]
    assert all(k.code_type == "text" for k in t_keys)
    assert t_keys[1].supplier_order_ref == fulfil.reference(t_line)
    assert len({codes.open_text(k) for k in t_keys}) == 3
    (i_key,) = keys_of(i_line.id)
    assert i_key.code_type == "image" and codes.open_image(i_key).startswith(PNG_MAGIC)
    assert i_key.image_filename.endswith(".png")
    assert (t_line.key_state, i_line.key_state, p_line.key_state) == (
        "assigned",
        "assigned",
        "pre_order",
    )
    assert purchase(t_line.id).status == SENT
    assert not fulfil.complete(order_id)
    # The supplier delivers the pre-order: the recheck stores its key.
    requests.post(f"{url}/_sandbox/codeswholesale/preorders/assign", timeout=5)
    found = fulfil.recheck_pre_orders(run_for(supplier), supplier)
    assert found["delivered"] == 1 and found["orders"] == [order_id]
    db.session.expire_all()
    assert lines_of(order_id)[2].key_state == "assigned" and len(keys_of(p_line.id)) == 1
    assert fulfil.complete(order_id)
    # Fulfilling again buys nothing more.
    fulfil.assign_keys(run_for(account), [order_id])
    assert cw(url)["keys_sold"] == 4


def test_a_purchase_whose_answer_was_lost_is_found_by_its_reference(app, store, url, smtp_server):
    app.config["MERCATO_CONNECTOR_READ_TIMEOUT"] = 0.5
    account = channel_account(store, live=True)
    supplier = supplier_account(app, store, url)
    pid = cw_examples(url)["text"][1]
    product(store, pid, marketplace="codeswholesale")
    (order_id,) = book(account, [unified("L-1", [(pid, 2)])])
    cw_fault(url, lost_answer={"seconds": 1.5})
    fulfil.assign_keys(run_for(account), [order_id])
    (line,) = lines_of(order_id)
    call = purchase(line.id)
    assert call.status == FAILED and line.key_state == "pending"  # retried, not held
    assert cw(url)["orders_by_reference"][fulfil.reference(line)] == 1  # it did buy
    # The worker runs the job again: no second purchase is recorded, none is sent.
    fulfil.assign_keys(run_for(account), [order_id])
    assert db.session.query(OutboundCall).filter_by(action=BUY_KEYS).count() == 1
    make_due(call)
    send_owed(supplier)
    db.session.expire_all()
    assert purchase(line.id).status == SENT and lines_of(order_id)[0].key_state == "assigned"
    assert len(keys_of(line.id)) == 2
    sales = cw(url)
    assert sales["orders_by_reference"][fulfil.reference(line)] == 1
    assert sales["sold_by_reference"][fulfil.reference(line)] == 2
    assert sent_keys(store, smtp_server) == {codes.open_text(k) for k in keys_of(line.id)}
    assert lines_of(order_id)[0].key_state == "sent" and order(order_id).status == "fulfilled"


def test_a_crash_between_purchase_and_commit_never_buys_twice(app, store, url, smtp_server):
    """The sender bought (the supplier has the order) and died before its commit: the call is
    left ``sending``; the next sender takes the stale claim over and adopts the purchase."""
    from webapp.connector import connector_for

    account = channel_account(store, live=True)
    supplier = supplier_account(app, store, url, live=False)  # records without sending
    pid = cw_examples(url)["text"][0]
    product(store, pid, marketplace="codeswholesale")
    (order_id,) = book(account, [unified("C-1", [(pid, 1)])])
    fulfil.assign_keys(run_for(account), [order_id])
    (line,) = lines_of(order_id)
    call = purchase(line.id)
    connector_for(supplier).buy_keys(fulfil.reference(line), pid, 1)  # what the dead one did
    stale = utcnow() - timedelta(minutes=11)
    db.session.execute(
        update(OutboundCall)
        .where(OutboundCall.id == call.id)
        .values(status="sending", attempts=1, updated_at=stale)
    )
    supplier.is_live = True
    db.session.commit()
    send_owed(supplier)
    db.session.expire_all()
    assert purchase(line.id).status == SENT and len(keys_of(line.id)) == 1
    assert cw(url)["orders_by_reference"] == {fulfil.reference(line): 1}
    assert sent_keys(store, smtp_server) == {codes.open_text(k) for k in keys_of(line.id)}
    assert lines_of(order_id)[0].key_state == "sent"


def test_in_test_mode_nothing_is_bought_and_the_purchase_is_a_dry_run(app, store, url):
    account = channel_account(store)
    supplier_account(app, store, url, live=False)
    pid = cw_examples(url)["text"][0]
    product(store, pid, marketplace="codeswholesale")
    (order_id,) = book(account, [unified("T-1", [(pid, 2)])])
    summary = fulfil.assign_keys(run_for(account), [order_id])
    assert summary["dry_run"] == 1
    (line,) = lines_of(order_id)
    call = purchase(line.id)
    assert call.status == DRY_RUN and call.method == "POST" and call.url.endswith("/v2/orders")
    assert call.body["orderId"] == fulfil.reference(line)
    assert call.body["products"] == [{"productId": pid, "quantity": 2}]
    assert line.key_state == "pending" and cw(url)["keys_sold"] == 0


@pytest.mark.parametrize(
    ("switch", "code"),
    [("out_of_stock", 310003), ("balance_too_low", 10002), ("gone", 20001)],
)
def test_a_graded_refusal_is_retried_with_backoff_then_buys_and_sends_the_right_number(
    app, store, url, switch, code, smtp_server
):
    account = channel_account(store, live=True)
    supplier = supplier_account(app, store, url)
    pid = cw_examples(url)["text"][0]
    product(store, pid, marketplace="codeswholesale")
    (order_id,) = book(account, [unified("R-1", [(pid, 3)])])
    cw_fault(url, **{switch: {"times": 1}})
    fulfil.assign_keys(run_for(account), [order_id])
    (line,) = lines_of(order_id)
    call = purchase(line.id)
    assert call.status == FAILED and cw(url)["keys_sold"] == 0
    wait = call.next_attempt_at - utcnow()
    assert timedelta(seconds=50) < wait <= timedelta(seconds=60)  # the refusal's own delay
    retry = db.session.scalars(select(Message).where(Message.error_type == "outbound_failed")).one()
    assert retry.severity == "retry" and str(code) in retry.error_message
    make_due(call)
    send_owed(supplier)
    db.session.expire_all()
    assert purchase(line.id).status == SENT and len(keys_of(line.id)) == 3
    assert cw(url)["sold_by_reference"] == {fulfil.reference(line): 3}
    # The retried purchase's answer queued the e-mail: the 3 keys go, the order is fulfilled.
    assert sent_keys(store, smtp_server) == {codes.open_text(k) for k in keys_of(line.id)}
    assert lines_of(order_id)[0].key_state == "sent" and order(order_id).status == "fulfilled"


def test_a_refusal_that_lasts_waits_in_the_inbox_with_the_suppliers_words(app, store, url):
    account = channel_account(store)
    supplier = supplier_account(app, store, url)
    pid = cw_examples(url)["text"][1]
    product(store, pid, marketplace="codeswholesale")
    (order_id,) = book(account, [unified("R-2", [(pid, 1)])])
    cw_fault(url, out_of_stock={"times": 10})
    fulfil.assign_keys(run_for(account), [order_id])
    (line,) = lines_of(order_id)
    for _ in range(4):
        make_due(purchase(line.id))
        send_owed(supplier)
        db.session.expire_all()
    call = purchase(line.id)
    assert call.status == UNKNOWN and call.attempts == 5 and call.next_attempt_at is None
    error = db.session.scalars(
        select(Message).where(Message.error_type == "outbound_failed", Message.severity == "error")
    ).one()
    assert "too low stock" in error.error_message and "refused 5 times" in error.error_message
    assert cw(url)["keys_sold"] == 0 and lines_of(order_id)[0].key_state == "pending"
    # Not sent again by itself.
    send_owed(supplier)
    assert cw(url)["keys_sold"] == 0 and purchase(line.id).attempts == 5


def test_the_keys_e_mail_context_and_its_sending(app, store):
    """The two registered hooks called as the mail sender calls them (tests/digital/test_e2e_mail.py
    sends the e-mail for real)."""
    from webapp.mail import AFTER_SENT, CONTEXTS, PREVIEWS
    from webapp.models import Order, OrderStatusHistory

    account = channel_account(store)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    product(store, "MUG")
    pool_keys(store, "OWN-KEY", 3)
    digital, mixed = book(
        account,
        [unified("M-1", [("OWN-KEY", 2)]), unified("M-2", [("OWN-KEY", 1), ("MUG", 1)])],
    )
    fulfil.assign_keys(run_for(account), [digital, mixed])
    assert fulfil.complete(digital) and fulfil.complete(mixed)
    assert fulfil.undelivered_orders(store.id) == [digital, mixed]
    context = CONTEXTS["digital_keys"](digital)
    (item,) = context["items"]
    (line,) = lines_of(digital)
    assert item["title"] == "OWN-KEY" and item["quantity"] == 2
    assert set(item["keys"]) == {codes.open_text(k) for k in keys_of(line.id)}
    assert context["attachments"] == [] and context["order_reference"] == "M-1"
    masked = PREVIEWS["digital_keys"](digital)["items"][0]["keys"]
    assert all(k.startswith("••••") and k not in item["keys"] for k in masked)
    for hook in AFTER_SENT["digital_keys"]:
        hook(SimpleNamespace(subject_id=digital))  # called with the sent MailMessage
        hook(SimpleNamespace(subject_id=mixed))
    db.session.expire_all()
    assert [ln.key_state for ln in lines_of(digital)] == ["sent"]
    assert db.session.get(Order, digital).status == "fulfilled"
    entry = db.session.scalars(
        select(OrderStatusHistory).where(
            OrderStatusHistory.order_id == digital, OrderStatusHistory.to_status == "fulfilled"
        )
    ).one()
    assert entry.from_status == "confirmed" and entry.changed_by == "digital_fulfilment"
    assert [ln.key_state for ln in lines_of(mixed)] == ["sent", "none"]
    assert db.session.get(Order, mixed).status == "confirmed"  # it still ships its mug
    assert not fulfil.complete(digital)  # nothing left to e-mail
    assert fulfil.undelivered_orders(store.id) == []


def test_an_order_waiting_for_pool_keys_is_retried_from_the_inbox(app, store):
    from webapp.inbox.retry import retry_message

    account = channel_account(store)
    supplier_account(app, store, "http://127.0.0.1:9", live=False)  # test mode: records only
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    product(store, "cw-9", marketplace="codeswholesale")
    (order_id,) = book(account, [unified("X-1", [("OWN-KEY", 1), ("cw-9", 1)])])
    fulfil.assign_keys(run_for(account), [order_id])
    entry = db.session.scalars(
        select(Message).where(Message.error_type == "digital_keys_missing")
    ).one()
    still = retry_message(entry, "shop@example.com")
    assert not still.resolved and "OWN-KEY: pending" in still.detail
    pool_keys(store, "OWN-KEY", 1)
    done = retry_message(db.session.get(Message, entry.id), "shop@example.com")
    assert done.resolved, done.detail
    own, bought = lines_of(order_id)
    assert own.key_state == "assigned" and bought.key_state == "pending"
    assert purchase(bought.id).status == DRY_RUN  # recorded once, never bought in test mode
    assert db.session.get(Message, entry.id).resolved_at is not None


def test_the_fulfilment_flow_runs_as_an_execution_of_the_channel_account(app, store):
    """What follows an order poll that booked digital orders (lifecycle.then)."""
    from webapp.models import Run
    from webapp.runs import lifecycle

    account = channel_account(store)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    (order_id,) = book(account, [unified("Y-1", [("OWN-KEY", 1)])])
    assert fulfil.due_orders(account.id) == [order_id]
    started = lifecycle.start_flow("fulfil_digital", account, "schedule", inline=True)
    run = db.session.get(Run, started.run.id)
    assert run.kind == "digital_fulfilment" and run.account_id == account.id
    assert run.status == "completed_with_errors" and run.total_processed == 1
    assert started.run.outcome["missing"] == 1
    assert fulfil.due_orders(account.id) == [order_id]  # it waits in the inbox, for keys

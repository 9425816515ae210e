"""Digital fulfilment to the customer's inbox, end to end: orders booked through the booking
path, keys from the pool and bought from the CodesWholesale fake (over real HTTP), the keys
e-mail sent over a real SMTP server (aiosmtpd), its lines ``sent`` and a fully digital order
``fulfilled``. Each test runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import select

from tests.digital.helpers import (
    book,
    channel_account,
    cw,
    cw_examples,
    keys_of,
    lines_of,
    pool_keys,
    product,
    run_for,
    supplier_account,
    unified,
)
from tests.inprocess_worker import InProcessWorker
from tests.sandbox_server import served_sandbox
from tests.webapp.conftest import csrf_from
from webapp.digital import fulfil
from webapp.extensions import db, queue
from webapp.keys import codes
from webapp.mail import sender
from webapp.models import MailMessage, Message, Order, OrderStatusHistory, OutboundCall
from webapp.models import mail as M
from webapp.models.outbound import DRY_RUN

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with served_sandbox(1, SANDBOX_CW_PRODUCTS=40) as url:
        yield url


@pytest.fixture
def url(sandbox):
    requests.post(f"{sandbox}/_sandbox/reset", timeout=5)
    return sandbox


def mails(order_id: int) -> list[MailMessage]:
    return db.session.scalars(
        select(MailMessage)
        .where(MailMessage.subject_type == "order", MailMessage.subject_id == order_id)
        .order_by(MailMessage.id)
    ).all()


def body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def fulfilled_entry(order_id: int) -> OrderStatusHistory | None:
    return db.session.scalars(
        select(OrderStatusHistory).where(
            OrderStatusHistory.order_id == order_id, OrderStatusHistory.to_status == "fulfilled"
        )
    ).one_or_none()


def test_keys_from_the_pool_and_the_supplier_reach_the_customer(app, store, url, smtp_server):
    account = channel_account(store, live=True)
    supplier_account(app, store, url)
    kinds = cw_examples(url)
    text, image = kinds["text"][0], kinds["image"][0]
    for pid in (text, image):
        product(
            store,
            pid,
            marketplace="codeswholesale",
            extra={"is_digital": "true", "platform": "Steam"},
        )
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    product(store, "MUG")
    pool_keys(store, "OWN-KEY", 2)
    digital, mixed = book(
        account,
        [
            unified("E-1", [("OWN-KEY", 1), (text, 2), (image, 1)], email="alex@example.test"),
            unified("E-2", [("OWN-KEY", 1), ("MUG", 1)], email="sam@example.test"),
        ],
    )
    db.session.get(Order, digital).channel = "amazon_de"  # the e-mail's language follows
    db.session.commit()

    from webapp.runs import lifecycle

    started = lifecycle.start_flow("fulfil_digital", account, "schedule", inline=True)
    assert started.run.outcome["from_pool"] == 2 and started.run.outcome["purchases"] == 2
    assert started.run.outcome["delivered"] == 2
    assert cw(url)["keys_sold"] == 3
    # The e-mails are recorded and a worker woken after the commit sends them.
    default = queue("default")
    InProcessWorker([default], connection=default.connection).work(burst=True)
    db.session.expire_all()

    got = {m["To"]: m for m in smtp_server.received}
    assert sorted(got) == ["alex@example.test", "sam@example.test"]
    first = got["alex@example.test"]
    text_body = body(first)
    own, bought, drawn = lines_of(digital)
    clear = [codes.open_text(k) for k in keys_of(own.id) + keys_of(bought.id)]
    assert len(clear) == 3 and all(code in text_body for code in clear)
    assert first["Subject"] == "Vos clés pour la commande E-1 de Acme"
    assert "(Steam)" in text_body
    (attached,) = list(first.iter_attachments())
    (image_key,) = keys_of(drawn.id)
    assert attached.get_filename() == image_key.image_filename
    assert attached.get_content_type() == "image/png"
    assert attached.get_content() == codes.open_image(image_key)
    assert attached.get_content().startswith(PNG_MAGIC)
    assert f"image jointe : {image_key.image_filename}" in text_body  # amazon_fr: French
    (message,) = mails(digital)
    assert message.status == M.SENT and message.language == "de"

    assert [ln.key_state for ln in lines_of(digital)] == ["sent", "sent", "sent"]
    order = db.session.get(Order, digital)
    assert order.status == "fulfilled"
    entry = fulfilled_entry(digital)
    assert entry.from_status == "confirmed" and entry.changed_by == "digital_fulfilment"
    # The mixed order: its keys went, it keeps its shipping flow.
    assert [ln.key_state for ln in lines_of(mixed)] == ["sent", "none"]
    assert db.session.get(Order, mixed).status == "confirmed" and fulfilled_entry(mixed) is None
    assert mails(mixed)[0].language == "fr"  # its channel: amazon_fr
    # Nothing twice: the sweep finds nothing left to send or to buy.
    assert sender.send_due(store.id)["sent"] == 0 and len(smtp_server.received) == 2
    assert fulfil.undelivered_orders(store.id) == []


def test_in_test_mode_nothing_is_bought_nor_e_mailed(app, store, url, smtp_server):
    from webapp.accounts import create_account

    channel = create_account(
        store,
        "lengow",
        "Lengow (test)",
        settings={"account_id": "5622"},
        secrets={"access_token": "a", "secret": "s"},
        live=False,
    )
    supplier_account(app, store, url, live=False)
    pid = cw_examples(url)["text"][0]
    product(store, pid, marketplace="codeswholesale")
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    pool_keys(store, "OWN-KEY", 1)
    pooled, bought = book(channel, [unified("T-1", [("OWN-KEY", 1)]), unified("T-2", [(pid, 1)])])
    summary = fulfil.fulfil_now(db.session.get(Order, pooled))
    summary2 = fulfil.fulfil_now(db.session.get(Order, bought))
    assert summary["delivered"] == 1 and summary2["dry_run"] == 1
    # The channel account is in test mode: the e-mail is a dry run, nothing arrives.
    (message,) = mails(pooled)
    assert message.status == M.DRY_RUN
    assert sender.send_due(store.id)["sent"] == 0 and smtp_server.received == []
    assert lines_of(pooled)[0].key_state == "assigned"
    assert db.session.get(Order, pooled).status == "confirmed"
    # The supplier account is in test mode: the purchase is a dry run, nothing bought.
    call = db.session.scalars(
        select(OutboundCall).where(OutboundCall.subject_id == lines_of(bought)[0].id)
    ).one()
    assert call.status == DRY_RUN and cw(url)["keys_sold"] == 0 and mails(bought) == []


def test_resend_from_the_order_page_sends_again(app, store, store_client, smtp_server):
    account = channel_account(store, live=True)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    pool_keys(store, "OWN-KEY", 1)
    (order_id,) = book(account, [unified("S-1", [("OWN-KEY", 1)])])
    fulfil.fulfil_now(db.session.get(Order, order_id))
    sender.send_due(store.id)
    assert len(smtp_server.received) == 1
    page = store_client.get(f"/store/{store.code}/orders/{order_id}")
    resent = store_client.post(
        f"/store/{store.code}/orders/{order_id}/keys/resend",
        data={"csrf_token": csrf_from(page.text)},
    )
    assert resent.status_code == 302
    assert sender.send_due(store.id)["sent"] == 1
    first, again = smtp_server.received
    (key,) = keys_of(lines_of(order_id)[0].id)
    assert codes.open_text(key) in body(again) and again["Message-ID"] != first["Message-ID"]
    assert [m.resend_no for m in mails(order_id)] == [0, 1]
    assert (
        len(
            db.session.scalars(
                select(OrderStatusHistory).where(
                    OrderStatusHistory.order_id == order_id,
                    OrderStatusHistory.to_status == "fulfilled",
                )
            ).all()
        )
        == 1
    )


def test_a_customer_without_an_address_waits_in_the_inbox(app, store, smtp_server):
    account = channel_account(store, live=True)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    pool_keys(store, "OWN-KEY", 2)
    bad, good = book(
        account,
        [unified("N-1", [("OWN-KEY", 1)], email=None), unified("N-2", [("OWN-KEY", 1)])],
    )
    summary = fulfil.fulfil_orders(run_for(account), [bad, good])
    assert summary["delivered"] == 1  # one bad order never stops the rest
    entry = db.session.scalars(select(Message).where(Message.error_type == fulfil.NO_ADDRESS)).one()
    assert entry.subject_id == bad and "N-1" in entry.error_message
    assert sender.send_due(store.id)["sent"] == 1 and mails(bad) == []


def test_a_pool_run_low_by_fulfilment_raises_its_alert_at_once(app, store):
    account = channel_account(store, live=True)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    pool_keys(store, "OWN-KEY", 6)  # the default threshold is 5
    (order_id,) = book(account, [unified("A-1", [("OWN-KEY", 2)])])
    low = select(Message).where(Message.error_type == "key_pool_low")
    assert db.session.scalars(low).all() == []
    run = run_for(account)
    fulfil.assign_keys(run, [order_id])
    (alert,) = db.session.scalars(low).all()
    assert alert.import_job_id == run.id and alert.identifier == "OWN-KEY"
    assert "4" in alert.error_message


def test_a_pre_ordered_key_is_sent_once_delivered(app, store, url, smtp_server):
    account = channel_account(store, live=True)
    supplier = supplier_account(app, store, url)
    pid = cw_examples(url)["pre_order"][0]
    product(store, pid, marketplace="codeswholesale")
    (order_id,) = book(account, [unified("P-1", [(pid, 1)])])
    fulfil.fulfil_now(db.session.get(Order, order_id))
    assert lines_of(order_id)[0].key_state == "pre_order" and mails(order_id) == []
    requests.post(f"{url}/_sandbox/codeswholesale/preorders/assign", timeout=5)
    from webapp.runs import lifecycle

    lifecycle.start_flow("supplier_keys", supplier, "schedule", inline=True)
    assert sender.send_due(store.id)["sent"] == 1
    db.session.expire_all()
    (got,) = smtp_server.received
    (key,) = keys_of(lines_of(order_id)[0].id)
    assert codes.open_text(key) in body(got)
    assert lines_of(order_id)[0].key_state == "sent"
    assert db.session.get(Order, order_id).status == "fulfilled"


def test_the_e_mail_language_follows_the_channel_then_the_shipping_country():
    from types import SimpleNamespace

    from webapp.digital.mail import order_language

    def order(channel, address=None):
        return SimpleNamespace(channel=channel, shipping_address=address)

    assert order_language(order("amazon_de")) == "de"
    assert order_language(order("amazon_uk", {"country": "FR"})) == "en"
    assert order_language(order("manomano_fr")) == "fr"
    assert order_language(order("cdiscount", {"country_code": "BE"})) == "fr"
    assert order_language(order("letzshop", {"country": "Luxembourg"})) is None  # unknown
    assert order_language(order("lengow", None)) is None  # the store's default then

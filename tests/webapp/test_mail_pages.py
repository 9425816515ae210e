"""The store's e-mail pages: list, one e-mail (escaped, HTML in a sandboxed frame), resend,
a test e-mail over a real SMTP server, templates edited with a preview; each store its own,
CSRF on every form."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.mail import helpers
from tests.mail.smtp_server import SmtpServer
from tests.webapp.conftest import csrf_from
from webapp.extensions import db
from webapp.mail import queue_mail
from webapp.models import MailMessage, MailTemplate


@pytest.fixture
def smtp_server(app):
    server = SmtpServer().start()
    app.config["MERCATO_SMTP_URL"] = server.url
    yield server
    server.stop()


def recorded(store, subject_id=5) -> int:
    message_id = queue_mail(
        store_id=store.id,
        account_id=None,
        kind=helpers.KIND,
        to="c@example.test",
        subject_type="order",
        subject_id=subject_id,
    )
    db.session.commit()
    return message_id


def test_list_and_view_one_escaped_and_sandboxed(store_client, other_client, store, other_store):
    helpers.add_templates(store.id)
    message_id = recorded(store)
    page = store_client.get("/store/acme/mail")
    assert page.status_code == 200 and "c@example.test" in page.text
    assert 'href="/store/acme/mail"' in store_client.get("/store/acme/settings").text
    view = store_client.get(f"/store/acme/mail/{message_id}")
    assert view.status_code == 200
    assert "Note for Customer &lt;5&gt;" in view.text  # the subject, escaped
    assert '<iframe sandbox title="HTML part"' in view.text
    assert "&lt;b&gt;CODE-0005&lt;/b&gt;" in view.text  # the HTML part inside srcdoc, escaped
    assert other_client.get(f"/store/acme/mail/{message_id}").status_code == 404
    assert other_client.get(f"/store/globex/mail/{message_id}").status_code == 404
    assert "c@example.test" not in other_client.get("/store/globex/mail").text


def test_a_keys_e_mail_is_shown_with_its_keys_masked(store_client, store):
    """digital_keys is a secret kind: its page renders the masked preview, never a key."""
    from tests.digital.helpers import book, channel_account, pool_keys, product, unified
    from webapp.digital import fulfil
    from webapp.keys import codes
    from webapp.models import DigitalKey, Order

    account = channel_account(store)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    pool_keys(store, "OWN-KEY", 1)
    (order_id,) = book(account, [unified("K-9", [("OWN-KEY", 1)])])
    fulfil.fulfil_now(db.session.get(Order, order_id))
    message_id = db.session.scalar(select(MailMessage.id).where(MailMessage.subject_id == order_id))
    clear = codes.open_text(db.session.scalars(select(DigitalKey)).one())
    view = store_client.get(f"/store/acme/mail/{message_id}")
    assert view.status_code == 200 and "K-9" in view.text
    assert clear not in view.text and "••••" + clear[-4:] in view.text


def test_a_secret_kind_without_a_preview_is_not_shown(store_client, store):
    from webapp.mail import SECRET_KINDS

    message_id = recorded(store)
    SECRET_KINDS.add(helpers.KIND)
    try:
        view = store_client.get(f"/store/acme/mail/{message_id}")
    finally:
        SECRET_KINDS.discard(helpers.KIND)
    assert view.status_code == 200 and "shown on its order" in view.text


def test_send_test_and_resend(store_client, store, smtp_server):
    page = store_client.get("/store/acme/mail")
    assert (
        store_client.post("/store/acme/mail/test", data={"to": "me@acme.test"}).status_code == 400
    )
    sent = store_client.post(
        "/store/acme/mail/test", data={"to": "me@acme.test", "csrf_token": csrf_from(page.text)}
    )
    assert sent.status_code == 302
    assert [m["To"] for m in smtp_server.received] == ["me@acme.test"]
    first = db.session.scalar(select(MailMessage.id))
    view = store_client.get(f"/store/acme/mail/{first}")
    again = store_client.post(
        f"/store/acme/mail/{first}/resend", data={"csrf_token": csrf_from(view.text)}
    )
    assert again.status_code == 302
    assert db.session.scalar(select(db.func.max(MailMessage.resend_no))) == 1


def test_edit_a_template_with_a_preview(store_client, other_client, store):
    url = f"/store/acme/mail/templates/{helpers.KIND}/en"
    page = store_client.get(url)
    assert page.status_code == 200
    token = csrf_from(page.text)
    form = {
        "csrf_token": token,
        "subject": "Hi {{ name }}",
        "text_body": "Code {{ code }}",
        "html_body": "<p>{{ name }}</p>",
    }
    preview = store_client.post(url, data={**form, "action": "preview"})
    assert preview.status_code == 200 and "Hi Sample customer" in preview.text
    assert db.session.scalar(select(MailTemplate.id)) is None  # a preview saves nothing
    broken = store_client.post(url, data={**form, "subject": "{{ name", "action": "save"})
    assert broken.status_code == 422 and "subject template" in broken.text
    saved = store_client.post(url, data={**form, "action": "save"})
    assert saved.status_code == 302
    own = db.session.scalar(select(MailTemplate))
    assert (own.store_id, own.subject) == (store.id, "Hi {{ name }}")
    assert other_client.get(url).status_code == 404
    assert (
        store_client.post(url, data={**form, "action": "save", "csrf_token": ""}).status_code == 400
    )
    store_client.post(url, data={**form, "action": "reset"})
    assert db.session.scalar(select(MailTemplate.id)) is None
    assert store_client.get("/store/acme/mail/templates").status_code == 200


def test_the_order_page_lists_its_mail_with_resend(store_client, other_client, store):
    from webapp.accounts import create_account
    from webapp.models import Order

    account = create_account(store, "letzshop", "Letzshop LU", secrets={"api_token": "t"})
    order = Order(
        store_id=store.id,
        account_id=account.id,
        channel="letzshop",
        channel_order_id="R1",
        status="confirmed",
    )
    db.session.add(order)
    db.session.commit()
    page = store_client.get(f"/store/acme/orders/{order.id}")
    assert page.status_code == 200 and "E-mail to the customer" not in page.text
    message_id = recorded(store, subject_id=order.id)
    db.session.get(MailMessage, message_id).status = "unknown"
    db.session.commit()
    page = store_client.get(f"/store/acme/orders/{order.id}")
    assert "E-mail to the customer" in page.text and "Send again" in page.text
    assert f"/store/acme/mail/{message_id}/resend" in page.text
    again = store_client.post(
        f"/store/acme/mail/{message_id}/resend", data={"csrf_token": csrf_from(page.text)}
    )
    assert again.status_code == 302 and db.session.get(MailMessage, message_id).status == "pending"
    denied = other_client.post(
        f"/store/acme/mail/{message_id}/resend", data={"csrf_token": csrf_from(page.text)}
    )
    assert denied.status_code in (400, 404)


def test_a_refused_e_mail_is_in_the_inbox_linked_to_its_page(store_client, store, smtp_server):
    from webapp.mail import sender

    helpers.add_templates(store.id)
    smtp_server.recorder.rcpt_reply = "550 5.1.1 Unknown user"
    message_id = recorded(store)
    sender.send_due(store.id)
    inbox = store_client.get("/store/acme/inbox").text
    assert f'href="/store/acme/mail/{message_id}">e-mail to c@example.test</a>' in inbox
    assert "550 5.1.1 Unknown user" in inbox


def test_a_send_batch_is_an_execution_with_a_page(store_client, store, smtp_server):
    from webapp.mail import sender

    helpers.add_templates(store.id)
    recorded(store)
    run_id = sender.send_due(store.id)["run_id"]
    page = store_client.get(f"/store/acme/integration/executions/{run_id}")
    assert page.status_code == 200

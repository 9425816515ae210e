"""E-mail over a real SMTP server (aiosmtpd): recorded first, sent once, graded failures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.inprocess_worker import InProcessWorker
from tests.mail import helpers
from tests.mail.smtp_server import free_port
from webapp.accounts import create_account
from webapp.extensions import db, queue
from webapp.inbox.retry import retry_ids
from webapp.mail import queue_mail, sender
from webapp.models import MailMessage, MailTemplate, Message, Run
from webapp.models import mail as M
from webapp.models.base import utcnow


def lengow(store, live: bool):
    return create_account(
        store,
        "lengow",
        "Lengow",
        settings={"account_id": "5622"},
        secrets={"access_token": "a", "secret": "s"},
        live=live,
    )


def queue_note(store, account=None, subject_id=7, **kw) -> int:
    message_id = queue_mail(
        store_id=store.id,
        account_id=account.id if account else None,
        kind=helpers.KIND,
        to="customer@example.test",
        subject_type="order",
        subject_id=subject_id,
        **kw,
    )
    db.session.commit()
    return message_id


def inbox(message_id: int) -> list[Message]:
    return db.session.scalars(
        select(Message).where(Message.subject_type == "mail", Message.subject_id == message_id)
    ).all()


def make_due(message_id: int) -> None:
    db.session.execute(
        update(MailMessage)
        .where(MailMessage.id == message_id)
        .values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


def test_sent_once_with_its_headers_and_body(app, store, smtp_server):
    helpers.add_templates(store.id)
    account = lengow(store, live=True)
    message_id = queue_note(store, account)
    # recorded in the caller's transaction, a worker woken after the commit
    assert db.session.get(MailMessage, message_id).status == M.PENDING
    assert len(queue("default")) == 1
    assert queue_note(store, account) == message_id  # once per (kind, subject)

    default = queue("default")
    InProcessWorker([default], connection=default.connection).work(burst=True)  # the wake-up
    assert sender.send_due(store.id)["sent"] == 0  # nothing twice
    run = db.session.scalar(select(Run).where(Run.kind == "mail"))
    assert (run.status, run.imported_count, run.store_id) == ("completed", 1, store.id)

    [got] = smtp_server.received
    message = db.session.get(MailMessage, message_id)
    assert message.status == M.SENT and message.attempts == 1 and message.sent_at
    assert (
        got["Message-ID"]
        == message.smtp_message_id
        == f"<mercato.{store.id}.{message_id}@acme.test>"
    )
    assert got["To"] == "customer@example.test"
    assert got.envelope_to == ["customer@example.test"]
    assert got.envelope_from == "shop@acme.test"
    assert got["From"] == "Acme shop <shop@acme.test>"
    assert got["Subject"] == "Note for Customer <7>"
    assert (
        got.get_body(("plain",)).get_content().replace("\r\n", "\n")
        == "Hello Customer <7>, your code is CODE-0007.\n"
    )
    html = got.get_body(("html",)).get_content()
    assert "Hello Customer &lt;7&gt;, your code is <b>CODE-0007</b>." in html  # escaped
    assert message_id in [m.id for m in db.session.scalars(select(MailMessage))]
    assert 7 in helpers.SENT_HOOK_CALLS


def test_resend_records_and_sends_one_more(app, store, smtp_server):
    helpers.add_templates(store.id)
    first = queue_note(store)
    sender.send_due(store.id)
    again = queue_note(store, resend=True, requested_by="ann@acme.test")
    assert again != first
    assert db.session.get(MailMessage, again).resend_no == 1
    sender.send_due(store.id)
    assert len(smtp_server.received) == 2


def test_nothing_is_queued_when_the_caller_rolls_back(app, store, smtp_server):
    helpers.add_templates(store.id)
    queue_mail(
        store_id=store.id,
        account_id=None,
        kind=helpers.KIND,
        to="a@b.test",
        subject_type="order",
        subject_id=1,
    )
    db.session.rollback()
    assert len(queue("default")) == 0
    assert db.session.scalar(select(MailMessage.id)) is None


def test_bad_input_is_refused_clearly(app, store):
    with pytest.raises(ValueError, match="not an e-mail address"):
        queue_mail(
            store_id=store.id,
            account_id=None,
            kind=helpers.KIND,
            to="nobody",
            subject_type="order",
            subject_id=1,
        )
    with pytest.raises(ValueError, match="Unknown e-mail kind"):
        queue_mail(
            store_id=store.id,
            account_id=None,
            kind="nope",
            to="a@b.test",
            subject_type="order",
            subject_id=1,
        )


def test_test_mode_is_a_dry_run_nothing_arrives(app, store, smtp_server):
    helpers.add_templates(store.id)
    account = lengow(store, live=False)
    message_id = queue_note(store, account)
    assert db.session.get(MailMessage, message_id).status == M.DRY_RUN
    assert len(queue("default")) == 0
    assert sender.send_due(store.id)["sent"] == 0
    assert smtp_server.received == []
    # the would-be e-mail is viewable, rendered now
    email = sender.build(db.session.get(MailMessage, message_id), "shop@acme.test")
    assert email["Subject"] == "Note for Customer <7>"


def test_server_down_is_retried_then_waits_in_the_inbox(app, store, smtp_server):
    helpers.add_templates(store.id)
    app.config["MERCATO_SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}?timeout=2"
    message_id = queue_note(store)
    summary = sender.send_due(store.id)
    assert summary["failed"] == 1
    message = db.session.get(MailMessage, message_id)
    assert message.status == M.FAILED and message.next_attempt_at > utcnow()
    assert "could not connect" in message.last_error
    [entry] = inbox(message_id)
    assert entry.severity == "retry" and entry.store_id == store.id
    assert sender.send_due(store.id)["failed"] == 0  # not due yet
    for _ in range(sender.MAX_ATTEMPTS - 1):
        make_due(message_id)
        sender.send_due(store.id)
    message = db.session.get(MailMessage, message_id)
    assert message.status == M.ERROR and message.attempts == sender.MAX_ATTEMPTS
    [entry] = inbox(message_id)  # one open entry, now for a person
    assert entry.severity == "error" and "after 5 attempts" in entry.error_message
    # the server is back: a person's retry sends it and closes the entry
    app.config["MERCATO_SMTP_URL"] = smtp_server.url
    assert retry_ids([entry.id], "ann@acme.test")["resolved"] == 1
    assert db.session.get(MailMessage, message_id).status == M.SENT
    assert len(smtp_server.received) == 1
    assert inbox(message_id)[0].resolved_at is not None


def test_a_5xx_is_an_error_at_once_with_the_servers_words(app, store, smtp_server):
    helpers.add_templates(store.id)
    smtp_server.recorder.rcpt_reply = "550 5.1.1 No such user here"
    message_id = queue_note(store)
    assert sender.send_due(store.id)["errors"] == 1
    message = db.session.get(MailMessage, message_id)
    assert message.status == M.ERROR and message.attempts == 1
    [entry] = inbox(message_id)
    assert entry.severity == "error" and "550 5.1.1 No such user here" in entry.error_message


def test_a_4xx_is_retried(app, store, smtp_server):
    helpers.add_templates(store.id)
    smtp_server.recorder.data_reply = "451 4.3.0 Mailbox busy, try later"
    message_id = queue_note(store)
    assert sender.send_due(store.id)["failed"] == 1
    assert db.session.get(MailMessage, message_id).status == M.FAILED
    smtp_server.recorder.data_reply = None
    make_due(message_id)
    assert sender.send_due(store.id)["sent"] == 1
    assert inbox(message_id)[0].resolved_at is not None


def test_a_connection_lost_after_the_data_is_unknown_and_not_resent(app, store, smtp_server):
    helpers.add_templates(store.id)
    smtp_server.recorder.drop_after_data = True
    message_id = queue_note(store)
    assert sender.send_due(store.id)["unknown"] == 1
    message = db.session.get(MailMessage, message_id)
    assert message.status == M.UNKNOWN
    assert len(smtp_server.received) == 1  # it did arrive; Mercato cannot know
    make_due(message_id)
    assert sender.send_due(store.id)["sent"] == 0  # never again by itself
    [entry] = inbox(message_id)
    assert entry.severity == "error" and "may have been delivered" in entry.error_message
    smtp_server.recorder.drop_after_data = False
    retry_ids([entry.id], "ann@acme.test")  # a person checked, and asks again
    assert db.session.get(MailMessage, message_id).status == M.SENT
    got = smtp_server.received
    assert len(got) == 2 and got[0]["Message-ID"] == got[1]["Message-ID"]


def test_no_smtp_server_configured_says_so(app, store):
    helpers.add_templates(store.id)
    app.config["MERCATO_SMTP_URL"] = ""
    message_id = queue_note(store)
    sender.send_due(store.id)
    message = db.session.get(MailMessage, message_id)
    assert message.status == M.ERROR and "MERCATO_SMTP_URL is not set" in message.last_error


def test_a_template_that_fails_errs_that_message_only(app, store, smtp_server):
    helpers.add_templates(store.id, subject="{{ name.__class__.__mro__ }}")
    helpers.add_templates(store.id, language="de")
    bad = queue_note(store, subject_id=1, language="en")
    good = queue_note(store, subject_id=2, language="de")
    summary = sender.send_due(store.id)
    assert summary["errors"] == 1 and summary["sent"] == 1
    assert "subject template does not render" in db.session.get(MailMessage, bad).last_error
    assert db.session.get(MailMessage, good).status == M.SENT


def test_a_claim_left_by_a_dead_sender_becomes_unknown(app, store, smtp_server):
    helpers.add_templates(store.id)
    message_id = queue_note(store)
    db.session.execute(
        update(MailMessage)
        .where(MailMessage.id == message_id)
        .values(status=M.SENDING, attempts=1, updated_at=utcnow() - timedelta(minutes=11))
    )
    db.session.commit()
    assert sender.send_due(store.id)["unknown"] == 1
    assert db.session.get(MailMessage, message_id).status == M.UNKNOWN
    [entry] = inbox(message_id)
    assert entry.severity == "error" and "sender stopped" in entry.error_message
    assert smtp_server.received == []


def test_a_context_s_attachments_are_attached(app, store, smtp_server):
    from webapp.mail import CONTEXTS, mail_kind

    @mail_kind("test_image_key")
    def _context(subject_id):
        return {
            "name": "Ann",
            "code": "see the image",
            "attachments": [
                {"filename": "key.png", "content": b"\x89PNG-bytes", "mimetype": "image/png"}
            ],
        }

    try:
        app.config["MERCATO_SMTP_URL"] = smtp_server.url
        db.session.add(
            MailTemplate(
                store_id=store.id,
                kind="test_image_key",
                language="en",
                subject="Key for {{ name }}",
                text_body="Your key: {{ code }}",
            )
        )
        db.session.commit()
        queue_mail(
            store_id=store.id,
            account_id=None,
            kind="test_image_key",
            to="a@b.test",
            subject_type="order",
            subject_id=3,
            language="en",
        )
        db.session.commit()
        assert sender.send_due(store.id)["sent"] == 1
        [got] = smtp_server.received
        [part] = list(got.iter_attachments())
        assert part.get_filename() == "key.png" and part.get_content() == b"\x89PNG-bytes"
    finally:
        CONTEXTS.pop("test_image_key", None)


def test_a_down_server_stops_the_batch_after_three_failures(app, store):
    helpers.add_templates(store.id)
    app.config["MERCATO_SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}?timeout=2"
    ids = [queue_note(store, subject_id=n) for n in range(1, 6)]
    summary = sender.send_due(store.id)
    assert (summary["failed"], summary["deferred"]) == (3, 2)
    statuses = [db.session.get(MailMessage, i).status for i in ids]
    assert statuses == [M.FAILED] * 3 + [M.PENDING] * 2  # the last two were not tried
    assert [db.session.get(MailMessage, i).attempts for i in ids] == [1, 1, 1, 0, 0]

"""What the pages, the CLI and the API share: a store's e-mail listed, shown, resent, and its
templates saved."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.mail import (
    CONTEXTS,
    LABELS,
    PREVIEWS,
    SAMPLES,
    SECRET_KINDS,
    queue_mail,
    render,
    smtp,
    wake_after_commit,
)
from webapp.mail import sender as _sender  # noqa: F401 - the built-in kinds
from webapp.models import MailMessage, MailTemplate
from webapp.models import mail as M
from webapp.models.base import utcnow

STATUSES = M.STATUSES
# What a person can ask again: failed/refused/in doubt -> the same e-mail again; sent (the
# customer lost it) -> one more e-mail, a resend.
RETRYABLE = (M.FAILED, M.ERROR, M.UNKNOWN)


def _iso(value) -> str | None:
    return value.isoformat() + "Z" if value else None


def record(message: MailMessage) -> dict:
    return {
        "id": message.id,
        "kind": message.kind,
        "subject_type": message.subject_type,
        "subject_id": message.subject_id,
        "resend_no": message.resend_no,
        "to": message.recipient,
        "language": message.language,
        "account_id": message.account_id,
        "status": message.status,
        "attempts": message.attempts,
        "next_attempt_at": _iso(message.next_attempt_at),
        "last_error": message.last_error,
        "sent_at": _iso(message.sent_at),
        "smtp_message_id": message.smtp_message_id,
        "created_at": _iso(message.created_at),
    }


def messages_query(store_id: int, status: str | None = None, kind: str | None = None):
    query = select(MailMessage).where(MailMessage.store_id == store_id)
    if status:
        query = query.where(MailMessage.status == status)
    if kind:
        query = query.where(MailMessage.kind == kind)
    return query.order_by(MailMessage.id.desc())


def status_counts(store_id: int) -> dict[str, int]:
    return dict(
        db.session.execute(
            select(MailMessage.status, func.count())
            .where(MailMessage.store_id == store_id)
            .group_by(MailMessage.status)
        ).all()
    )


def message_of_store(message_id: int, store_id: int) -> MailMessage | None:
    message = db.session.get(MailMessage, message_id)
    return message if message is not None and message.store_id == store_id else None


class NotShown(Exception):
    pass


def preview(message: MailMessage) -> render.Rendered:
    """The e-mail as it was (or would be) sent, rendered now from its subject; a secret
    kind's through its masked preview context (:class:`NotShown` when it has none)."""
    if message.kind in PREVIEWS:
        context = PREVIEWS[message.kind](message.subject_id)
    elif message.kind in SECRET_KINDS:
        raise NotShown("This e-mail carries secrets (keys): they are shown on its order's page.")
    elif message.kind in CONTEXTS:
        context = CONTEXTS[message.kind](message.subject_id)
    else:
        raise NotShown(f"No e-mail kind {message.kind!r} is registered.")
    return render.render(message.store_id, message.kind, message.language, context)


def resend(message: MailMessage, by: str) -> MailMessage:
    """A person's resend, sent by a worker after the commit: a failed, refused or in-doubt
    e-mail is due again now (the same e-mail, the same Message-ID); any other (sent, a dry
    run) gets one more e-mail recorded (a dry run again while its account is in test mode).
    Returns the e-mail that will go."""
    if message.status in RETRYABLE:
        message.status, message.next_attempt_at = M.PENDING, None
        message.requested_by = by[:255]
        message.updated_at = utcnow()
        wake_after_commit(message.store_id)
        db.session.commit()
        return message
    new_id = queue_mail(
        store_id=message.store_id,
        account_id=message.account_id,
        kind=message.kind,
        to=message.recipient,
        subject_type=message.subject_type,
        subject_id=message.subject_id,
        language=message.language,
        resend=True,
        requested_by=by[:255],
    )
    db.session.commit()
    return db.session.get(MailMessage, new_id)


def send_test(store, to: str, by: str, language: str | None = None) -> MailMessage:
    """Record a test e-mail to ``to`` and send it now, inline."""
    message_id = queue_mail(
        store_id=store.id,
        account_id=None,
        kind="test",
        to=to,
        subject_type="store",
        subject_id=store.id,
        language=language or store.default_language,
        resend=True,
        requested_by=by,
    )
    db.session.commit()
    _sender.send_due(store.id, trigger="cli")
    db.session.expire_all()
    return db.session.get(MailMessage, message_id)


def smtp_shown() -> str:
    return smtp.masked(current_app.config.get("MERCATO_SMTP_URL"))


# -- templates -----------------------------------------------------------------------------------


def kinds() -> dict[str, str]:
    """Every kind with a context registered or a default shipped, and its label."""
    shipped = {p.name.split(".")[0] for p in render.SHIPPED.glob("*.subject.txt")}
    return {
        kind: LABELS.get(kind, kind.replace("_", " ").capitalize())
        for kind in sorted({*CONTEXTS, *shipped})
    }


def sample_context(kind: str) -> dict:
    return dict(SAMPLES.get(kind, {}))


def save_template(
    store_id: int, kind: str, language: str, subject: str, text: str, html: str | None
) -> MailTemplate:
    """Save the store's template (it must parse: :class:`render.RenderError` otherwise)."""
    render.check(subject, text, html)
    found = render.store_template(store_id, kind, language)
    if found is None:
        found = MailTemplate(store_id=store_id, kind=kind, language=language)
        db.session.add(found)
    found.subject, found.text_body, found.html_body = subject, text, html or None
    found.updated_at = utcnow()
    db.session.commit()
    return found


def reset_template(store_id: int, kind: str, language: str) -> bool:
    found = render.store_template(store_id, kind, language)
    if found is None:
        return False
    db.session.delete(found)
    db.session.commit()
    return True

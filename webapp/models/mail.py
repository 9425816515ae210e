"""E-mail to customers: one row per message owed, recorded before anything is sent.

``mail_messages``: what is owed to whom (a kind, its subject, the recipient, the language),
written in the transaction that decides it (:func:`webapp.mail.queue_mail`), then claimed and
sent once over SMTP by :mod:`webapp.mail.sender`. Nothing rendered is stored: the body is
built from the subject at send time (a kind's context, :func:`webapp.mail.mail_kind`), so no
secret (a game key) sits in this table. One message per (kind, subject); a person's resend
adds one with the next ``resend_no``.

``mail_templates``: a store's own subject/text/HTML for a kind and a language; without one
the shipped default (``webapp/templates/mail/``) is used.
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.models.base import TimestampMixin

PENDING = "pending"  # owed, sent by the next send
DRY_RUN = "dry_run"  # test mode: recorded, never sent (viewable)
SENDING = "sending"  # claimed by one sender
SENT = "sent"
FAILED = "failed"  # the last attempt failed for a reason that may pass; retried later
ERROR = "error"  # refused for good (a 5xx, or out of attempts): a person looks
# The server may have taken it (the connection dropped after the message's data): SMTP
# has no look-up, so it is never sent again by itself; a person resends.
UNKNOWN = "unknown"
STATUSES = (PENDING, DRY_RUN, SENDING, SENT, FAILED, ERROR, UNKNOWN)


class MailMessage(TimestampMixin, db.Model):
    __tablename__ = "mail_messages"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    # The channel account whose mode (test/live) governs the message; None: the store's own.
    account_id = db.Column(db.Integer, db.ForeignKey("accounts.id", ondelete="SET NULL"))
    kind = db.Column(db.String(64), nullable=False)
    subject_type = db.Column(db.String(32), nullable=False)
    subject_id = db.Column(db.Integer, nullable=False)
    resend_no = db.Column(db.Integer, nullable=False, default=0)  # 0: the first one
    recipient = db.Column(db.String(320), nullable=False)
    language = db.Column(db.String(8))
    status = db.Column(db.String(16), nullable=False, default=PENDING)
    attempts = db.Column(db.Integer, nullable=False, default=0)
    next_attempt_at = db.Column(db.DateTime)
    last_error = db.Column(db.Text)
    sent_at = db.Column(db.DateTime)
    smtp_message_id = db.Column(db.String(255))
    requested_by = db.Column(db.String(255))  # who asked for a resend

    __table_args__ = (
        db.UniqueConstraint(
            "kind", "subject_type", "subject_id", "resend_no", name="uq_mail_messages_subject"
        ),
        db.Index("ix_mail_messages_store", "store_id", "id"),
        db.Index("ix_mail_messages_due", "store_id", "status", "next_attempt_at"),
    )


class MailTemplate(TimestampMixin, db.Model):
    __tablename__ = "mail_templates"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    kind = db.Column(db.String(64), nullable=False)
    language = db.Column(db.String(8), nullable=False)
    subject = db.Column(db.Text, nullable=False)
    text_body = db.Column(db.Text, nullable=False)
    html_body = db.Column(db.Text)

    __table_args__ = (
        db.UniqueConstraint("store_id", "kind", "language", name="uq_mail_templates_kind_lang"),
    )

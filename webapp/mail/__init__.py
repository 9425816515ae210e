"""E-mail to customers: recorded first, sent once over SMTP, dry runs in test mode.

- ``@mail_kind("digital_keys")`` registers the function that builds a kind's template
  context from its subject id, at send time (so nothing secret is stored in the message):
  ``fn(subject_id) -> dict``; its ``attachments`` entry (``[{"filename", "content": bytes,
  "mimetype"}]``, an image key) is attached to the e-mail. ``digital_keys`` is a secret
  kind: the pages show its e-mail only through a ``preview=`` context (keys masked) if one
  is registered. Its shipped default template (``webapp/templates/mail/digital_keys.*``)
  reads ``store_name``, ``order_reference``, ``customer_name`` and ``items`` (each
  ``title``, ``platform``, ``keys`` and ``images``: webapp/digital/mail.py).
- ``@on_sent("digital_keys")`` registers what happens here once a message of that kind is
  sent (its subject's state moves): ``fn(message)``, ``message`` the
  :class:`webapp.models.MailMessage` just sent (``.subject_id``, ``.sent_at``...), called
  once ``sent`` is committed, in a transaction of its own committed after it; a hook that
  raises is rolled back and reported in the inbox (the e-mail stays sent).
- :func:`queue_mail` records one message per (kind, subject) - again only with
  ``resend=True`` - in the caller's transaction and has it sent after commit (a job,
  ``jobs.mail.send_due``); in test mode (the account's) it is a ``dry_run``: nothing is sent,
  the e-mail can be viewed (rendered on demand), and it is never sent later, even once the
  account is live (a person's Resend records a new one).

Sending is :mod:`webapp.mail.sender` (a flow of the run lifecycle: each batch a run, each
failure a retry/error message in the inbox); SMTP is :mod:`webapp.mail.smtp`; templates
:mod:`webapp.mail.render`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from webapp.bulk import bulk_insert
from webapp.extensions import db
from webapp.models import Account, MailMessage
from webapp.models import mail as M
from webapp.models.base import utcnow

log = logging.getLogger("mercato.mail")

CONTEXTS: dict[str, Callable[[int], dict]] = {}
AFTER_SENT: dict[str, list[Callable]] = {}
# What each kind is called on the pages.
LABELS: dict[str, str] = {"test": "Test e-mail", "digital_keys": "Digital keys"}
# Sample contexts for the template editor's preview (a kind's registrar may add its own).
SAMPLES: dict[str, dict] = {
    "digital_keys": {
        "store_name": "Demo store",
        "order_reference": "ORDER-1001",
        "customer_name": "Alex Martin",
        "items": [
            {"title": "Space Game", "platform": "Steam", "keys": ["AAAAA-BBBBB-CCCCC"]},
            {"title": "Gift card 25 EUR", "platform": None, "keys": ["GIFT-0000-1111"]},
        ],
    }
}
# What a page may show of a sent e-mail: a kind whose e-mail carries secrets (game keys) is
# shown through its ``preview`` context (secrets masked), or not at all.
PREVIEWS: dict[str, Callable[[int], dict]] = {}
SECRET_KINDS: set[str] = {"digital_keys"}

MAILS = MailMessage.__table__
_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_WAKE = "mercato_mail_wake"


def mail_kind(
    kind: str,
    *,
    label: str | None = None,
    sample: dict | None = None,
    preview: Callable[[int], dict] | None = None,
    secret: bool | None = None,
):
    """Register ``fn(subject_id) -> dict``, the template context of ``kind`` at send time.
    ``label``: its name on the pages; ``sample``: the template editor's preview context;
    ``preview``: the context a page renders a sent e-mail with (secrets masked); ``secret``:
    its e-mail carries secrets, so a page shows it only through ``preview``."""

    def register(fn):
        CONTEXTS[kind] = fn
        if preview is not None:
            PREVIEWS[kind] = preview
        if secret is not None:
            (SECRET_KINDS.add if secret else SECRET_KINDS.discard)(kind)
        if label:
            LABELS[kind] = label
        if sample is not None:
            SAMPLES[kind] = sample
        return fn

    return register


def on_sent(kind: str):
    def register(fn):
        AFTER_SENT.setdefault(kind, []).append(fn)
        return fn

    return register


def valid_address(to: str) -> bool:
    return bool(to) and len(to) <= 320 and _ADDRESS.match(to) is not None


def queue_mail(
    *,
    store_id: int,
    account_id: int | None,
    kind: str,
    to: str,
    subject_type: str,
    subject_id: int,
    language: str | None = None,
    resend: bool = False,
    requested_by: str | None = None,
) -> int:
    """Record the e-mail of ``kind`` about (``subject_type``, ``subject_id``) to ``to`` in the
    caller's transaction; returns its id. Once per (kind, subject): a second call returns the
    first message's id, unless ``resend`` (a person asked), which records one more. A live
    account's (or a store's own, ``account_id`` None) message is ``pending`` and sent after
    the caller commits; a test-mode account's is a ``dry_run``, never sent.

    Raises ValueError for an unknown kind or an address that is not one."""
    from webapp.mail import sender  # noqa: F401 - the built-in kinds and the inbox handler

    if kind not in CONTEXTS:
        raise ValueError(f"Unknown e-mail kind {kind!r}.")
    to = (to or "").strip()
    if not valid_address(to):
        raise ValueError(f"{to!r} is not an e-mail address.")
    live = True
    if account_id is not None:
        account = db.session.get(Account, account_id)
        live = account is not None and account.is_live
    now = utcnow()
    row = {
        "store_id": store_id,
        "account_id": account_id,
        "kind": kind,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "recipient": to,
        "language": (language or None) and language[:8],
        "status": M.PENDING if live else M.DRY_RUN,
        "attempts": 0,
        "requested_by": requested_by,
        "created_at": now,
        "updated_at": now,
    }
    conflict = ["kind", "subject_type", "subject_id", "resend_no"]
    for _ in range(5):
        number = 0
        if resend:
            number = 1 + db.session.scalar(
                select(func.coalesce(func.max(MAILS.c.resend_no), -1)).where(
                    MAILS.c.kind == kind,
                    MAILS.c.subject_type == subject_type,
                    MAILS.c.subject_id == subject_id,
                )
            )
        inserted = bulk_insert(
            MAILS, [{**row, "resend_no": number}], conflict=conflict, returning=("id",)
        )
        if inserted:
            message_id = inserted[0][0]
            break
        if not resend:  # already recorded: the first one stands
            return db.session.scalar(
                select(MAILS.c.id).where(
                    MAILS.c.kind == kind,
                    MAILS.c.subject_type == subject_type,
                    MAILS.c.subject_id == subject_id,
                    MAILS.c.resend_no == 0,
                )
            )
    else:
        raise RuntimeError("The resend could not be recorded (too many at once); try again.")
    if live:
        wake_after_commit(store_id)
    return message_id


def wake_after_commit(store_id: int) -> None:
    """Have the store's due e-mail sent by a worker once the current transaction commits
    (nothing is queued if it rolls back)."""
    db.session().info.setdefault(_WAKE, set()).add(store_id)


@event.listens_for(Session, "after_commit")
def _wake_on_commit(session) -> None:
    stores = session.info.pop(_WAKE, None)
    if not stores:
        return
    from webapp.mail.sender import wake

    for store_id in sorted(stores):
        wake(store_id)


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session) -> None:
    session.info.pop(_WAKE, None)


__all__ = [
    "AFTER_SENT",
    "CONTEXTS",
    "LABELS",
    "PREVIEWS",
    "SAMPLES",
    "SECRET_KINDS",
    "mail_kind",
    "on_sent",
    "queue_mail",
    "valid_address",
    "wake_after_commit",
]

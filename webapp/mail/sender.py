"""The mail sender: every e-mail due is claimed, rendered at send time and sent once.

``send_mail`` is a flow (:mod:`webapp.runs.registry`) of no feed of its own: each send batch
of a store is one run of the lifecycle (kind ``mail``), started by :func:`send_due` only
when something is due - after the commit that recorded an e-mail (:func:`wake`, a job), at
a failed e-mail's retry time (:func:`wake_later`), by the periodic sweep (:func:`sweep`), by
a person's retry from the inbox and by the CLI.

- Claim: one UPDATE (``pending``/``failed`` and due -> ``sending``, one more attempt) that
  only one sender can win, committed before anything is sent: two workers never send one
  e-mail twice.
- Sent: ``sent`` with the SMTP Message-ID and time, then the kind's ``on_sent`` hooks.
- 4xx, connection refused or dropped before the data: ``failed``, retried after
  :func:`backoff` with a ``retry`` message in the inbox (one open message per e-mail, with
  the server's words); after ``MAX_ATTEMPTS`` it is ``error`` and waits for a person.
- After ``GIVE_UP_AFTER`` such failures in a row the batch stops: the server is down, and the
  e-mail not tried yet waits (still ``pending``) for the retry of those that failed.
- 5xx (or a template that does not render, or no SMTP server configured): ``error`` at once.
- The connection lost after the message's data, before the server's answer: ``unknown``.
  SMTP cannot be asked whether it took it, so it is never sent again by itself: an
  ``error`` message asks a person to check with the customer and resend (the inbox's
  Retry, the order page's resend, ``POST /api/v1/store/mail/<id>/resend``). A sender that
  died holding a claim leaves the same doubt: its ``sending`` e-mail becomes ``unknown``
  after ``STALE_CLAIM``.
- Test mode (the account went back to test after recording): ``dry_run``, nothing sent.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from flask import current_app
from sqlalchemy import and_, func, insert, or_, select, update

from webapp.extensions import db, queue
from webapp.mail import AFTER_SENT, CONTEXTS, mail_kind, render, smtp
from webapp.models import Account, MailMessage, Message, Run, Store
from webapp.models import mail as M
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.runs import lifecycle
from webapp.runs.registry import OUT, flow
from webapp.runs.retries import Outcome, handler

log = logging.getLogger("mercato.mail")

MAILS = MailMessage.__table__
BATCH = 100
MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(seconds=60)
BACKOFF_CAP = timedelta(hours=2)
STALE_CLAIM = timedelta(minutes=10)
# Transient failures in a row (connection refused, 4xx) after which a batch stops: the server is
# down, so the e-mail not tried yet waits for the retry instead of each timing out in turn.
GIVE_UP_AFTER = 3
ERROR_TYPE = "mail_failed"


def backoff(attempts: int) -> timedelta:
    """1 min, 2 min, 4 min ... capped at 2 h."""
    return min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))


@mail_kind(
    "test", label="Test e-mail", sample={"store_name": "Demo store", "sent_at": "2026-01-01 12:00"}
)
def _test_context(store_id: int) -> dict:
    """``flask mail send-test``: the subject is the store itself."""
    store = db.session.get(Store, store_id)
    return {"store_name": store.name if store else "", "sent_at": f"{utcnow():%Y-%m-%d %H:%M}"}


# -- waking a sender ---------------------------------------------------------------------------


def wake(store_id: int) -> None:
    """Send the store's due e-mail in a worker now. Redis away loses nothing: the periodic
    sweep sends what is due."""
    try:
        queue("default").enqueue(
            "jobs.mail.send_due", store_id, description=f"send e-mail of store {store_id}"
        )
    except Exception:  # noqa: BLE001 - a queue outage must not fail the caller's commit
        log.warning("mail wake-up for store %s not queued", store_id, exc_info=True)


def wake_later(when, store_id: int) -> None:
    prefix = lifecycle.job_prefix()
    try:
        queue("default").enqueue_at(
            when.replace(tzinfo=UTC),
            "jobs.mail.send_due",
            store_id,
            job_id=f"{prefix}mail-{store_id}-{int(when.timestamp())}",
            description=f"retry e-mail of store {store_id}",
        )
    except Exception:  # noqa: BLE001
        log.warning("mail retry for store %s not queued", store_id, exc_info=True)


# -- what is due -------------------------------------------------------------------------------


def _due(store_id: int, now):
    return and_(
        MAILS.c.store_id == store_id,
        or_(
            MAILS.c.status == M.PENDING,
            and_(MAILS.c.status == M.FAILED, MAILS.c.next_attempt_at <= now),
        ),
    )


def has_due(store_id: int, now=None) -> bool:
    now = now or utcnow()
    return (
        db.session.execute(select(MAILS.c.id).where(_due(store_id, now)).limit(1)).first()
        is not None
    )


def _summary() -> dict:
    return {
        "sent": 0,
        "failed": 0,
        "errors": 0,
        "unknown": 0,
        "dry_run": 0,
        "deferred": 0,
        "run_id": None,
    }


def send_due(store_id: int, *, trigger: str = "schedule") -> dict:
    """Send the store's due e-mail now, inline, as one run (created only when something is
    due, or a dead sender's claim is to be settled). Returns ``{"sent", "failed", "errors",
    "unknown", "dry_run", "deferred", "run_id"}``."""
    if not has_due(store_id) and not _stale_ids(store_id):
        return _summary()
    started = lifecycle.create(kind="mail", store_id=store_id, trigger=trigger)
    run = lifecycle.execute(started.run.id)
    outcome = getattr(run, "outcome", None)
    return outcome if outcome is not None else {**_summary(), "run_id": run.id}


def sweep() -> dict:
    """Every store's due e-mail (the periodic safety net behind :func:`wake`)."""
    now = utcnow()
    stores = db.session.scalars(
        select(MAILS.c.store_id)
        .where(
            or_(
                MAILS.c.status == M.PENDING,
                and_(MAILS.c.status == M.FAILED, MAILS.c.next_attempt_at <= now),
                and_(MAILS.c.status == M.SENDING, MAILS.c.updated_at < now - STALE_CLAIM),
            )
        )
        .distinct()
    ).all()
    total = _summary()
    for store_id in stores:
        result = send_due(store_id, trigger="schedule")
        for key in ("sent", "failed", "errors", "unknown", "dry_run", "deferred"):
            total[key] += result.get(key, 0)
    total.pop("run_id")
    return total


def _stale_ids(store_id: int) -> list[int]:
    return db.session.scalars(
        select(MAILS.c.id).where(
            MAILS.c.store_id == store_id,
            MAILS.c.status == M.SENDING,
            MAILS.c.updated_at < utcnow() - STALE_CLAIM,
        )
    ).all()


def _release_stale(run: Run, summary: dict) -> None:
    """A sender that died holding a claim may have sent the e-mail or not: ``unknown``, for a
    person (never sent again by itself)."""
    for message_id in _stale_ids(run.store_id):
        claimed = db.session.execute(
            update(MAILS)
            .where(
                MAILS.c.id == message_id,
                MAILS.c.status == M.SENDING,
                MAILS.c.updated_at < utcnow() - STALE_CLAIM,
            )
            .values(updated_at=utcnow())  # one sender settles it
            .returning(MAILS.c.id)
        ).first()
        db.session.commit()
        if claimed is None:
            continue
        message = db.session.get(MailMessage, message_id)
        words = "the sender stopped while sending it (its process ended)"
        _fail(run, message, smtp.UNKNOWN, words, summary)


def _claim(ids: list[int], store_id: int, now) -> list[int]:
    claimed = db.session.scalars(
        update(MAILS)
        .where(MAILS.c.id.in_(ids), _due(store_id, now))
        .values(status=M.SENDING, attempts=MAILS.c.attempts + 1, updated_at=now)
        .returning(MAILS.c.id)
    ).all()
    db.session.commit()
    return sorted(claimed)


# -- the flow ----------------------------------------------------------------------------------


@flow("send_mail", label="Send e-mail", direction=OUT, owner=None, run_kind="mail")
def send_mail(run: Run) -> dict:
    """One send batch of the run's store: each due e-mail claimed, sent once."""
    summary = {**_summary(), "run_id": run.id}
    store_id = run.store_id
    settings = error = None
    url = current_app.config.get("MERCATO_SMTP_URL")
    if not url:
        error = "No SMTP server is configured (MERCATO_SMTP_URL is not set): nothing was sent."
    else:
        try:
            settings = smtp.parse_url(url)
        except smtp.SmtpConfigError as exc:
            error = f"The SMTP server setting is invalid: {exc}."
    sender = current_app.config.get("MERCATO_MAIL_FROM") or "Mercato <noreply@localhost>"
    _release_stale(run, summary)
    streak = 0  # transient failures in a row: the server is down, the rest waits
    while streak < GIVE_UP_AFTER:
        now = utcnow()
        ids = db.session.scalars(
            select(MAILS.c.id).where(_due(store_id, now)).order_by(MAILS.c.id).limit(BATCH)
        ).all()
        if not ids:
            break
        for message_id in ids:
            if not _claim([message_id], store_id, now):
                continue  # another sender took it
            message = db.session.get(MailMessage, message_id)
            outcome = _send_one(run, message, settings, error, sender, summary)
            streak = streak + 1 if outcome == smtp.TRANSIENT else 0
            if streak >= GIVE_UP_AFTER:
                break
    if streak >= GIVE_UP_AFTER:  # not tried now: sent with the retry of those that failed
        summary["deferred"] = db.session.scalar(
            select(func.count()).select_from(MAILS).where(_due(store_id, utcnow()))
        )
    run = db.session.get(Run, run.id)
    lifecycle.finish(
        run, R.COMPLETED_WITH_ERRORS if (summary["errors"] or summary["unknown"]) else R.COMPLETED
    )
    retry_at = db.session.scalar(
        select(MAILS.c.next_attempt_at)
        .where(MAILS.c.store_id == store_id, MAILS.c.status == M.FAILED)
        .order_by(MAILS.c.next_attempt_at)
        .limit(1)
    )
    if retry_at is not None:
        wake_later(retry_at, store_id)
    return summary


def build(message: MailMessage, sender: str) -> EmailMessage:
    """The e-mail of ``message`` as it goes out, rendered now from its subject's context. A
    context's ``attachments`` (a list of ``{"filename", "content": bytes, "mimetype"}``, e.g.
    keys delivered as images) are attached, not given to the template."""
    context = dict(CONTEXTS[message.kind](message.subject_id))
    attachments = context.pop("attachments", None) or []
    rendered = render.render(message.store_id, message.kind, message.language, context)
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = rendered.subject
    email["Date"] = format_datetime(utcnow().replace(tzinfo=UTC))
    email["Message-ID"] = message_id_for(message, sender)
    email["X-Mercato-Mail"] = f"{message.kind} {message.id}"
    if message.language:
        email["Content-Language"] = message.language
    email.set_content(rendered.text)
    if rendered.html:
        email.add_alternative(rendered.html, subtype="html")
    for item in attachments:  # e.g. a key delivered as an image
        maintype, _, subtype = (item.get("mimetype") or "application/octet-stream").partition("/")
        email.add_attachment(
            item["content"], maintype=maintype, subtype=subtype, filename=item["filename"]
        )
    return email


def message_id_for(message: MailMessage, sender: str) -> str:
    """One Message-ID per e-mail, the same on every attempt (a server or a mail client that
    got it twice can tell)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<mercato.{message.store_id}.{message.id}@{domain}>"


def _send_one(run: Run, message: MailMessage, settings, error, sender, summary) -> str:
    """Send one claimed e-mail; returns what became of it (``sent``, ``dry_run`` or the
    failure's grade)."""
    account = db.session.get(Account, message.account_id) if message.account_id else None
    if account is not None and not account.is_live:
        message.status, message.updated_at = M.DRY_RUN, utcnow()
        db.session.commit()
        summary["dry_run"] += 1
        return M.DRY_RUN
    run.total_processed += 1
    if message.kind not in CONTEXTS:
        return _fail(
            run, message, smtp.PERMANENT, f"No e-mail kind {message.kind!r} is registered.", summary
        )
    if error:
        return _fail(run, message, smtp.PERMANENT, error, summary)
    try:
        email = build(message, sender)
    except (render.RenderError, render.TemplateMissing) as exc:
        return _fail(run, message, smtp.PERMANENT, str(exc), summary)
    except Exception as exc:  # noqa: BLE001 - one e-mail's subject never stops the others
        db.session.rollback()
        log.exception("mail id=%s context failed", message.id)
        message = db.session.get(MailMessage, message.id)
        return _fail(
            run,
            message,
            smtp.PERMANENT,
            f"Its content could not be built: {type(exc).__name__}: {exc}",
            summary,
        )
    envelope_from = parseaddr(sender)[1] or sender
    try:
        reply = smtp.deliver(settings, envelope_from, message.recipient, email.as_bytes())
    except smtp.SmtpFailure as exc:
        return _fail(run, message, exc.grade, exc.words, summary)
    except Exception as exc:  # noqa: BLE001 - whatever it was, it may have gone out
        log.exception("mail id=%s delivery crashed", message.id)
        db.session.rollback()
        message = db.session.get(MailMessage, message.id)
        words = f"the delivery stopped on {type(exc).__name__}: {exc}"
        return _fail(run, message, smtp.UNKNOWN, words, summary)
    now = utcnow()
    message.status = M.SENT
    message.sent_at = now
    message.smtp_message_id = email["Message-ID"]
    message.last_error = None
    message.next_attempt_at = None
    message.updated_at = now
    run.imported_count += 1
    _close_failures(message, run, now)
    db.session.commit()
    log.info("mail id=%s kind=%s state=sent reply=%r", message.id, message.kind, reply)
    summary["sent"] += 1
    _after_sent(run, message)
    return M.SENT


def _after_sent(run: Run, message: MailMessage) -> None:
    for hook in AFTER_SENT.get(message.kind, []):
        try:
            hook(message)
            db.session.commit()
        except Exception as exc:  # noqa: BLE001
            db.session.rollback()
            log.exception("mail id=%s on_sent hook failed", message.id)
            _note(
                run,
                db.session.get(MailMessage, message.id),
                R.ERROR,
                f"E-mail #{message.id} was sent, but what follows it failed: "
                f"{type(exc).__name__}: {exc}",
            )
            db.session.commit()


def _fail(run: Run, message: MailMessage, grade: str, words: str, summary: dict) -> str:
    now = utcnow()
    message.last_error = words
    message.updated_at = now
    what = f"E-mail #{message.id} ({message.kind}) to {message.recipient}"
    if grade == smtp.TRANSIENT and message.attempts < MAX_ATTEMPTS:
        retry_at = now + backoff(message.attempts)
        message.status, message.next_attempt_at = M.FAILED, retry_at
        text = (
            f"{what} was not sent (attempt {message.attempts} of {MAX_ATTEMPTS}: {words}); "
            f"it is sent again from {retry_at:%Y-%m-%d %H:%M} UTC."
        )
        severity = R.RETRY
        run.warning_count += 1
        summary["failed"] += 1
    elif grade == smtp.UNKNOWN:
        message.status, message.next_attempt_at = M.UNKNOWN, None
        text = (
            f"{what} may have been delivered ({words}). SMTP cannot be asked, so it is not sent "
            "again by itself: check with the customer, then retry here to send it again."
        )
        severity = R.ERROR
        run.error_count += 1
        summary["unknown"] += 1
    else:
        message.status, message.next_attempt_at = M.ERROR, None
        tried = f" after {message.attempts} attempts" if grade == smtp.TRANSIENT else ""
        text = f"{what} was not sent{tried}: {words}. Fix the cause, then retry here."
        severity = R.ERROR
        run.error_count += 1
        summary["errors"] += 1
    _note(run, message, severity, text)
    db.session.commit()
    return grade


def _note(run: Run, message: MailMessage, severity: str, text: str) -> None:
    """One open inbox message per e-mail: the last failure's words replace the earlier."""
    now = utcnow()
    open_id = db.session.scalar(
        select(Message.id).where(
            Message.error_type == ERROR_TYPE,
            Message.subject_type == "mail",
            Message.subject_id == message.id,
            Message.resolved_at.is_(None),
            Message.row_number.is_(None),
        )
    )
    if open_id is not None:
        db.session.execute(
            update(Message)
            .where(Message.id == open_id)
            .values(severity=severity, error_message=text, import_job_id=run.id, created_at=now)
        )
        return
    db.session.execute(
        insert(Message),
        [
            {
                "import_job_id": run.id,
                "severity": severity,
                "error_type": ERROR_TYPE,
                "error_message": text,
                "identifier": message.recipient,
                "subject_type": "mail",
                "subject_id": message.id,
                "store_id": message.store_id,
                "account_id": message.account_id,
                "created_at": now,
            }
        ],
    )


def _close_failures(message: MailMessage, run: Run, now) -> None:
    db.session.execute(
        update(Message)
        .where(
            Message.error_type == ERROR_TYPE,
            Message.subject_type == "mail",
            Message.subject_id == message.id,
            Message.resolved_at.is_(None),
        )
        .values(resolved_at=now, resolved_by=f"execution #{run.id}", next_retry_at=None)
        .execution_options(synchronize_session=False)
    )


# -- a person's retry --------------------------------------------------------------------------


def retry(message: MailMessage, *, trigger: str = "retry") -> MailMessage:
    """Send a failed, refused or in-doubt e-mail again now (a person asked: for ``unknown``,
    after checking it did not arrive), inline. A dry run stays one."""
    if message.status in (M.FAILED, M.ERROR, M.UNKNOWN):
        message.status, message.next_attempt_at = M.PENDING, None
        db.session.commit()
    send_due(message.store_id, trigger=trigger)
    db.session.expire_all()
    return db.session.get(MailMessage, message.id)


@handler(ERROR_TYPE, swept=False)
def retry_from_inbox(entry: Message) -> Outcome:
    message = db.session.get(MailMessage, entry.subject_id or 0)
    if message is None:
        return Outcome(True, "The e-mail no longer exists.")
    if message.status == M.SENT:
        return Outcome(True, "Sent.")
    if message.status == M.DRY_RUN:
        return Outcome(False, "Test mode: the e-mail is recorded as a dry run, never sent.")
    message = retry(message)
    if message.status == M.SENT:
        return Outcome(True, "Sent.")
    return Outcome(False, message.last_error or f"Not sent ({message.status}).")

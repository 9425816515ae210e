"""The store's e-mail pages: /store/<code>/mail (what was sent, dry runs, failures), one
e-mail (its content rendered now, HTML in a sandboxed frame; resend), a test e-mail, and the
templates (edit per kind and language, preview on a sample, back to the default).

Every view resolves the store through ``store_or_404`` first; every form carries CSRF."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from webapp import pagination
from webapp.access import store_or_404
from webapp.extensions import db
from webapp.mail import service
from webapp.mail.render import RenderError, Source, render_source, source_for
from webapp.models import MailMessage

bp = Blueprint("mail", __name__, url_prefix="/store/<code>/mail")
LANGUAGES = ("fr", "en", "de")
PER_PAGE = 50


@bp.app_context_processor
def _mail_helpers() -> dict:
    """For ``mail_pages/_subject_mail.html`` on other areas' pages (the order page)."""

    def mail_about(store_id: int, subject_type: str, subject_id: int) -> list[MailMessage]:
        return db.session.scalars(
            select(MailMessage)
            .where(
                MailMessage.store_id == store_id,
                MailMessage.subject_type == subject_type,
                MailMessage.subject_id == subject_id,
            )
            .order_by(MailMessage.kind, MailMessage.resend_no)
        ).all()

    def mail_kind_label(kind: str) -> str:
        return service.kinds().get(kind, kind)

    return {"mail_about": mail_about, "mail_kind_label": mail_kind_label}


@bp.get("")
@login_required
def messages(code: str):
    store = store_or_404(code)
    status = request.args.get("status") or None
    if status not in (None, *service.STATUSES):
        status = None
    query = service.messages_query(store.id, status)
    count = select(func.count()).select_from(query.order_by(None).subquery())
    page = pagination.paginate(
        query, count, pagination.clamp_page(request.args.get("page")), PER_PAGE
    )
    return render_template(
        "mail_pages/messages.html",
        store=store,
        page=page,
        status=status,
        counts=service.status_counts(store.id),
        statuses=service.STATUSES,
        smtp=service.smtp_shown(),
        kinds=service.kinds(),
        page_base=url_for(
            "mail.messages", code=store.code, **({"status": status} if status else {})
        ),
    )


@bp.post("/test")
@login_required
def send_test(code: str):
    store = store_or_404(code)
    to = (request.form.get("to") or "").strip()
    try:
        message = service.send_test(store, to, current_user.email)
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("mail.messages", code=store.code))
    if message.status == "sent":
        flash(f"Test e-mail sent to {message.recipient}.", "success")
    else:
        flash(f"The test e-mail was not sent: {message.last_error}", "error")
    return redirect(url_for("mail.message", code=store.code, mail_id=message.id))


def _message_or_404(store, mail_id: int) -> MailMessage:
    message = service.message_of_store(mail_id, store.id) if mail_id < 2**31 else None
    if message is None:
        abort(404)
    return message


@bp.get("/<int:mail_id>")
@login_required
def message(code: str, mail_id: int):
    store = store_or_404(code)
    message = _message_or_404(store, mail_id)
    rendered = problem = None
    try:
        rendered = service.preview(message)
    except service.NotShown as exc:
        problem = str(exc)
    except (RenderError, LookupError) as exc:
        problem = str(exc)
    others = db.session.scalars(
        select(MailMessage)
        .where(
            MailMessage.kind == message.kind,
            MailMessage.subject_type == message.subject_type,
            MailMessage.subject_id == message.subject_id,
            MailMessage.store_id == store.id,
        )
        .order_by(MailMessage.resend_no)
    ).all()
    return render_template(
        "mail_pages/message.html",
        store=store,
        message=message,
        rendered=rendered,
        problem=problem,
        others=others,
        kinds=service.kinds(),
    )


@bp.post("/<int:mail_id>/resend")
@login_required
def resend(code: str, mail_id: int):
    store = store_or_404(code)
    message = _message_or_404(store, mail_id)
    if message.status in ("pending", "sending"):
        flash("This e-mail is already waiting to be sent.", "info")
        return redirect(url_for("mail.message", code=store.code, mail_id=message.id))
    result = service.resend(message, current_user.email)
    if result.status == "dry_run":
        flash("Recorded as a dry run: the account is in test mode, nothing is sent.", "info")
    else:
        flash(f"E-mail to {result.recipient} queued: a worker sends it now.", "success")
    return redirect(url_for("mail.message", code=store.code, mail_id=result.id))


# -- templates -----------------------------------------------------------------------------------


@bp.get("/templates")
@login_required
def templates(code: str):
    store = store_or_404(code)
    rows = []
    for kind, label in service.kinds().items():
        for lang in LANGUAGES:
            own = service.render.store_template(store.id, kind, lang)
            rows.append({"kind": kind, "label": label, "language": lang, "own": own})
    return render_template("mail_pages/templates.html", store=store, rows=rows)


@bp.route("/templates/<kind>/<language>", methods=["GET", "POST"])
@login_required
def template(code: str, kind: str, language: str):
    store = store_or_404(code)
    kinds = service.kinds()
    if kind not in kinds or language not in LANGUAGES:
        abort(404)
    own = service.render.store_template(store.id, kind, language)
    status = 200
    if own is not None:
        current = Source(own.subject, own.text_body, own.html_body, f"store:{language}", language)
    else:
        try:
            current = source_for(store.id, kind, language)
        except LookupError:
            current = Source("", "", "", "none", language)
    preview = error = None
    if request.method == "POST":
        action = request.form.get("action")
        current = Source(
            request.form.get("subject", ""),
            request.form.get("text_body", ""),
            request.form.get("html_body", "") or None,
            f"store:{language}",
            language,
        )
        if action == "reset":
            service.reset_template(store.id, kind, language)
            flash("Back to the default template.", "success")
            return redirect(url_for("mail.template", code=store.code, kind=kind, language=language))
        if not current.subject.strip() or not current.text.strip():
            error = "A template needs a subject and a text body."
        else:
            try:
                preview = render_source(current, service.sample_context(kind))
            except RenderError as exc:
                error = str(exc)
        if error is None and action == "save":
            try:
                service.save_template(
                    store.id, kind, language, current.subject, current.text, current.html
                )
            except RenderError as exc:
                error = str(exc)
            else:
                flash("Template saved: the next e-mail uses it.", "success")
                return redirect(
                    url_for("mail.template", code=store.code, kind=kind, language=language)
                )
        if error:
            status = 422
    else:
        try:
            preview = render_source(current, service.sample_context(kind))
        except RenderError as exc:
            error = str(exc)
    return (
        render_template(
            "mail_pages/template.html",
            store=store,
            kind=kind,
            label=kinds[kind],
            language=language,
            source=current,
            own=own,
            preview=preview,
            error=error,
            sample=service.sample_context(kind),
        ),
        status,
    )

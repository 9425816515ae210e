"""/account/tokens: a user's personal API tokens (list, create, revoke).

A new token is rendered straight into the response to the POST that created it and
never stored anywhere it could be read back (not in the session, not in a flash
message): the page is the only place it is ever shown.
"""

from __future__ import annotations

from flask import Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ApiToken
from webapp.models.base import utcnow
from webapp.tokens import bp

NAME_MAX = 100


def _my_tokens() -> list[ApiToken]:
    return db.session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == current_user.id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
    ).all()


def _page(status: int = 200, **context) -> Response:
    response = make_response(
        render_template("tokens/tokens.html", tokens=_my_tokens(), **context), status
    )
    # The page may hold a fresh token: neither the browser nor a proxy may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/tokens")
@login_required
def tokens() -> Response:
    return _page()


@bp.post("/tokens")
@login_required
def create_token() -> Response:
    name = (request.form.get("name") or "").strip()
    if not name:
        return _page(422, name_error="Give the token a name, e.g. the script that uses it.")
    if len(name) > NAME_MAX:
        return _page(422, name=name, name_error=f"The name must be at most {NAME_MAX} characters.")
    row, token = ApiToken.issue(current_user, name)
    db.session.commit()
    return _page(201, new_token=token, new_row=row)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Response:
    row = db.session.get(ApiToken, token_id)
    if row is None or row.user_id != current_user.id:
        abort(404)  # someone else's token is answered like a missing one
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
        flash(f"Token “{row.name}” ({row.display_prefix}…) is revoked.", "success")
    else:
        flash(f"Token “{row.name}” was already revoked.", "info")
    return redirect(url_for("tokens.tokens"))

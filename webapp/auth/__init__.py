"""Logging in and out (email and password, Flask-Login sessions)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from webapp.auth import throttle
from webapp.extensions import db
from webapp.models import User
from webapp.models.stores import authenticate

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


def home_for(user: User) -> str:
    if user.is_admin:
        return url_for("admin.imports")
    return url_for("store.marketplace", code=user.store.code)


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths: never an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        address = request.remote_addr or "unknown"
        wait = throttle.blocked_for(email, address)
        if wait:
            minutes = max(1, round(wait / 60))
            flash(f"Too many failed attempts. Try again in about {minutes} minute(s).", "error")
            return render_template("auth/login.html", form=form), 429
        user = db.session.scalar(select(User).where(User.email == email))
        if not authenticate(user, form.password.data):
            throttle.record_failure(email, address)
            flash("Wrong email or password.", "error")
            status = 401
        else:
            throttle.clear(email, address)
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or home_for(user))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    # On the server, not only in this browser: a copy of the cookie (or a remember cookie)
    # kept anywhere stops working too, and so do the user's other sessions.
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))

"""Sessions end on the server: a session cookie (or a remember cookie) copied before the user
logged out or changed the password stops working, in every browser that holds one."""

from __future__ import annotations

import json

from flask_login.utils import encode_cookie

from tests.webapp.conftest import PASSWORD, csrf_from, logged_in
from webapp.extensions import db
from webapp.models import User

PAGE = "/store/acme/marketplace"


def _session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _client_with(app, name: str, value: str):
    client = app.test_client()
    client.set_cookie(name, value)
    return client


def _is_logged_in(client) -> bool:
    response = client.get(PAGE)
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def _logout(client) -> None:
    csrf = csrf_from(client.get(PAGE).text)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302


def test_a_copied_session_cookie_stops_working_once_its_user_logs_out(app, store_user):
    client = logged_in(app, store_user.email)
    stolen = _session_cookie(client)
    assert _is_logged_in(_client_with(app, "session", stolen))  # the copy works, as it should
    _logout(client)
    assert not _is_logged_in(client)
    assert not _is_logged_in(_client_with(app, "session", stolen))


def test_logging_out_ends_the_users_other_sessions_and_no_one_elses(app, store_user, other_user):
    laptop = logged_in(app, store_user.email)
    phone = logged_in(app, store_user.email)
    someone_else = logged_in(app, other_user.email)
    _logout(laptop)
    assert not _is_logged_in(phone)
    assert someone_else.get("/store/globex/marketplace").status_code == 200
    again = logged_in(app, store_user.email)  # logging in again works at once
    assert _is_logged_in(again)


def test_a_remember_cookie_stops_working_once_its_user_logs_out(app, store_user):
    """Flask-Login's remember cookie holds get_id(), which carries the generation."""
    db.session.refresh(store_user)
    remember = encode_cookie(store_user.get_id())
    assert _is_logged_in(_client_with(app, "remember_token", remember))
    _logout(logged_in(app, store_user.email))
    assert not _is_logged_in(_client_with(app, "remember_token", remember))


def test_a_session_from_before_generations_loads_nobody(app, store_user):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(store_user.id)  # what sessions held until now
        session["_fresh"] = True
    assert not _is_logged_in(client)
    for forged in (f"{store_user.id}:", f"{store_user.id}:x", f"{2**40}:0", ":0", "x:0"):
        with client.session_transaction() as session:
            session["_user_id"] = forged
        assert not _is_logged_in(client), forged


def test_changing_the_password_ends_every_session(app, store_user):
    client = logged_in(app, store_user.email)
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "set-password", store_user.email, "--password", "a-new-secret-1"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary == {"id": store_user.id, "email": store_user.email, "sessions_ended": True}
    db.session.rollback()
    assert not _is_logged_in(client)
    stranger = app.test_client()
    page = stranger.get("/login")
    old = stranger.post(
        "/login",
        data={"email": store_user.email, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
    )
    assert old.status_code == 401
    fresh = app.test_client()
    page = fresh.get("/login")
    new = fresh.post(
        "/login",
        data={
            "email": store_user.email,
            "password": "a-new-secret-1",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert new.status_code == 302 and _is_logged_in(fresh)


def test_set_password_refuses_short_passwords_and_unknown_users(app, store_user):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["users", "set-password", store_user.email, "--password", "short"])
    assert short.exit_code != 0 and "at least 8" in short.output
    unknown = runner.invoke(
        args=["users", "set-password", "nobody@acme.test", "--password", "long-enough-1"]
    )
    assert unknown.exit_code != 0 and "No user" in unknown.output
    db.session.rollback()
    assert db.session.get(User, store_user.id).session_generation == 0

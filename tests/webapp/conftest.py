"""Logged-in test clients for the server-rendered pages (CSRF on, as in production)."""

from __future__ import annotations

import re

import pytest

from webapp.extensions import db
from webapp.models import User

PASSWORD = "password123"


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


def make_user(email: str, *, store=None, admin: bool = False) -> User:
    user = User(email=email, is_admin=admin, store_id=store.id if store else None)
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    return user


def logged_in(app, email: str):
    client = app.test_client()
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 302, response.text
    return client


@pytest.fixture
def store_user(app, store):
    return make_user("shop@acme.test", store=store)


@pytest.fixture
def other_user(app, other_store):
    return make_user("shop@globex.test", store=other_store)


@pytest.fixture
def admin_user(app):
    return make_user("admin@mercato.test", admin=True)


@pytest.fixture
def store_client(app, store_user):
    return logged_in(app, store_user.email)


@pytest.fixture
def other_client(app, other_user):
    return logged_in(app, other_user.email)


@pytest.fixture
def admin_client(app, admin_user):
    return logged_in(app, admin_user.email)


def run_worker(app) -> None:
    """Drain the import queue with a real RQ worker, in this process."""
    from tests.inprocess_worker import InProcessWorker
    from webapp.extensions import queue

    imports = queue("imports")
    InProcessWorker([imports], connection=imports.connection).work(burst=True)

"""/account/tokens in the browser: list, create (shown once), revoke, CSRF, and nobody
touches anybody else's tokens."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ApiToken, User
from webapp.models.tokens import hash_token

PASSWORD = "correct horse battery"
TOKEN_RE = re.compile(r"mct_[A-Za-z0-9_-]{40,}")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" [^>]*value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Browser:
    """A logged-in test client that posts forms with the CSRF token of the page."""

    def __init__(self, app, email: str) -> None:
        self.client = app.test_client()
        login_page = self.client.get("/login").get_data(as_text=True)
        response = self.client.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(login_page)},
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]

    def page(self):
        response = self.client.get("/account/tokens")
        assert response.status_code == 200
        return response

    def post(self, url: str, data: dict | None = None, **kwargs):
        token = csrf_of(self.page().get_data(as_text=True))
        response = self.client.post(url, data={"csrf_token": token, **(data or {})}, **kwargs)
        db.session.rollback()
        return response


def make_user(email: str, store=None, admin: bool = False) -> User:
    user = User(email=email, store_id=store.id if store else None, is_admin=admin)
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    return user


@pytest.fixture
def alice(app, store) -> User:
    return make_user("alice@example.com", store)


@pytest.fixture
def bob(app, other_store) -> User:
    return make_user("bob@example.com", other_store)


def test_the_page_needs_a_login(app):
    response = app.test_client().get("/account/tokens")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_create_shows_the_token_once(app, alice):
    browser = Browser(app, "alice@example.com")
    empty = browser.page().get_data(as_text=True)
    assert "no API tokens yet" in empty and not TOKEN_RE.search(empty)

    created = browser.post("/account/tokens", {"name": "Nightly sync"})
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    html = created.get_data(as_text=True)
    tokens = set(TOKEN_RE.findall(html))
    assert len(tokens) == 1
    token = tokens.pop()
    assert "Copy it now" in html and "shown only once" in html

    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == alice.id))
    assert row.name == "Nightly sync" and row.token_hash == hash_token(token)
    assert row.display_prefix == token[:12]

    # the token works on the API...
    api = app.test_client().get(
        "/api/v1/store/marketplace/imports", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 200
    # ...and is never shown again, neither on the page nor kept in the session cookie
    later = browser.page().get_data(as_text=True)
    assert token not in later and "Nightly sync" in later and row.display_prefix in later
    assert "Copy it now" not in later
    cookie = browser.client.get_cookie("session")
    assert cookie is None or token not in cookie.value


def test_the_list_shows_my_tokens_with_their_dates(app, alice):
    first, _ = ApiToken.issue(alice, "first")
    second, _ = ApiToken.issue(alice, "second")
    db.session.commit()
    second.revoked_at = second.created_at
    first.last_used_at = first.created_at
    db.session.commit()
    html = Browser(app, "alice@example.com").page().get_data(as_text=True)
    assert "first" in html and "second" in html
    assert first.display_prefix in html and second.display_prefix in html
    first_row = html.split(f'id="token-{first.id}"')[1].split("</tr>")[0]
    second_row = html.split(f'id="token-{second.id}"')[1].split("</tr>")[0]
    assert "never" not in first_row and "active" in first_row
    assert "revoked" in second_row and "never" in second_row
    assert f"/account/tokens/{first.id}/revoke" in html
    assert f"/account/tokens/{second.id}/revoke" not in html  # already revoked


def test_names_are_required_and_bounded(app, alice):
    browser = Browser(app, "alice@example.com")
    assert browser.post("/account/tokens", {"name": "  "}).status_code == 422
    too_long = browser.post("/account/tokens", {"name": "n" * 101})
    assert too_long.status_code == 422 and "100 characters" in too_long.get_data(as_text=True)
    assert db.session.scalar(select(ApiToken)) is None


def test_revoke_my_token(app, alice):
    row, token = ApiToken.issue(alice, "to revoke")
    db.session.commit()
    browser = Browser(app, "alice@example.com")
    response = browser.post(f"/account/tokens/{row.id}/revoke", follow_redirects=True)
    assert response.status_code == 200
    assert "is revoked" in response.get_data(as_text=True)
    db.session.refresh(row)
    assert row.revoked_at is not None
    api = app.test_client().get(
        "/api/v1/store/marketplace/imports", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 401
    again = browser.post(f"/account/tokens/{row.id}/revoke", follow_redirects=True)
    assert "already revoked" in again.get_data(as_text=True)


def test_another_users_token_is_404_and_not_listed(app, alice, bob):
    theirs, _ = ApiToken.issue(bob, "bob's secret script")
    db.session.commit()
    browser = Browser(app, "alice@example.com")
    assert "bob&#39;s secret script" not in browser.page().get_data(as_text=True)
    assert browser.post(f"/account/tokens/{theirs.id}/revoke").status_code == 404
    assert browser.post("/account/tokens/999999/revoke").status_code == 404
    db.session.refresh(theirs)
    assert theirs.revoked_at is None


def test_admins_also_only_manage_their_own_tokens(app, bob):
    make_user("root@example.com", admin=True)
    theirs, _ = ApiToken.issue(bob, "bob")
    db.session.commit()
    browser = Browser(app, "root@example.com")
    assert browser.post(f"/account/tokens/{theirs.id}/revoke").status_code == 404


def test_posts_without_the_csrf_token_are_400(app, alice):
    row, _ = ApiToken.issue(alice, "keep")
    db.session.commit()
    browser = Browser(app, "alice@example.com")
    assert browser.client.post("/account/tokens", data={"name": "x"}).status_code == 400
    revoke = browser.client.post(f"/account/tokens/{row.id}/revoke")
    assert revoke.status_code == 400
    forged = browser.client.post(f"/account/tokens/{row.id}/revoke", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    db.session.rollback()
    assert db.session.scalars(select(ApiToken)).all() == [row]
    assert row.revoked_at is None

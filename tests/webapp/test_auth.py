from __future__ import annotations

from tests.conftest import TEST_PASSWORD_HASH_METHOD
from tests.webapp.conftest import PASSWORD, csrf_from
from webapp.models import User


def login(client, email, password):
    page = client.get("/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    )


def test_passwords_are_hashed_with_werkzeugs_default_scrypt_unless_configured(app):
    user = User(email="hash@acme.test", is_admin=True)
    user.set_password(PASSWORD)
    assert user.password_hash.startswith(f"{TEST_PASSWORD_HASH_METHOD}$")  # the suite's setting
    del app.config["MERCATO_PASSWORD_HASH_METHOD"]
    user.set_password(PASSWORD)
    assert user.password_hash.startswith("scrypt:32768:8:1$")  # production: the default
    assert user.check_password(PASSWORD) and not user.check_password("nope-nope")


def test_login_lands_on_the_users_home(app, store_user, admin_user):
    client = app.test_client()
    response = login(client, "SHOP@acme.test ", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/store/acme/marketplace"
    admin = app.test_client()
    assert login(admin, admin_user.email, PASSWORD).headers["Location"] == "/admin/imports"


def test_wrong_password_is_refused_and_repeated_failures_are_throttled(app, store_user):
    client = app.test_client()
    for _ in range(5):
        response = login(client, store_user.email, "nope-nope")
        assert response.status_code == 401
        assert "Wrong email or password" in response.text
    blocked = login(client, store_user.email, PASSWORD)  # even the right password now
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.text


def test_login_without_csrf_token_is_refused(app, store_user):
    client = app.test_client()
    response = client.post("/login", data={"email": store_user.email, "password": PASSWORD})
    assert response.status_code == 400


def test_pages_need_a_login_and_next_is_never_an_open_redirect(app, store_user):
    client = app.test_client()
    response = client.get("/store/acme/marketplace")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    page = client.get("/login?next=https://evil.example/")
    response = client.post(
        "/login?next=https://evil.example/",
        data={"email": store_user.email, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
    )
    assert response.headers["Location"] == "/store/acme/marketplace"


def test_logout_is_a_csrf_protected_post(store_client):
    assert store_client.get("/logout").status_code == 405
    assert store_client.post("/logout").status_code == 400  # no token
    page = store_client.get("/store/acme/marketplace")
    response = store_client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 302
    assert store_client.get("/store/acme/marketplace").status_code == 302  # back to login


def test_session_cookie_is_httponly_and_secure_in_production(app):
    from webapp import config

    production = config.load({"SECRET_KEY": "x" * 40, "MERCATO_ENCRYPTION_KEYS": "k"})
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"

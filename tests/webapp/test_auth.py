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


def _record_hash_checks(monkeypatch) -> list[str]:
    """The method ($-prefix) of every password hash a login checks, in order."""
    from webapp.models import stores

    checked: list[str] = []
    real = stores.check_password_hash

    def recording(pwhash: str, password: str) -> bool:
        checked.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr(stores, "check_password_hash", recording)
    return checked


def test_an_unknown_email_costs_a_password_hash_like_a_wrong_password(app, store_user, monkeypatch):
    """Timing must not tell which emails exist: every refused login checks one hash made
    with the same method (and so the same cost) as the users' own."""
    from webapp.extensions import db

    inactive = User(email="gone@acme.test", store_id=store_user.store_id, is_active=False)
    inactive.set_password(PASSWORD)
    db.session.add(inactive)
    db.session.commit()
    checked = _record_hash_checks(monkeypatch)
    method = store_user.password_hash.split("$", 1)[0]
    cases = [
        ("nobody@acme.test", "nope-nope", 401),
        (store_user.email, "nope-nope", 401),
        ("gone@acme.test", PASSWORD, 401),  # the right password of a disabled user
        (store_user.email, PASSWORD, 302),
    ]
    for email, password, status in cases:
        checked.clear()
        assert login(app.test_client(), email, password).status_code == status, email
        assert checked == [method], (email, checked)


def test_the_decoy_hash_uses_the_production_method_when_the_app_does(app):
    from webapp.models.stores import authenticate, decoy_password_hash

    del app.config["MERCATO_PASSWORD_HASH_METHOD"]
    assert decoy_password_hash().startswith("scrypt:32768:8:1$")
    assert decoy_password_hash() == decoy_password_hash()  # made once per method
    assert authenticate(None, "anything") is False

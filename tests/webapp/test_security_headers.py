"""Security headers on every response, and client addresses behind a configured proxy."""

from __future__ import annotations

import pytest

from tests.webapp.conftest import PASSWORD, csrf_from
from webapp import config
from webapp.security import CONTENT_SECURITY_POLICY, HEADERS


def _assert_secured(response, what: str) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (what, name, response.headers.get(name))


def test_every_kind_of_response_carries_the_security_headers(app, store_client, admin_user):
    from webapp.models import ApiToken

    _, token = ApiToken.issue(admin_user, "t")
    from webapp.extensions import db

    db.session.commit()
    anonymous = app.test_client()
    responses = {
        "page": store_client.get("/store/acme/marketplace"),
        "partial": store_client.get("/store/acme/marketplace/history", headers={"HX-Request": "1"}),
        "redirect": anonymous.get("/store/acme/marketplace"),
        "login": anonymous.get("/login"),
        "404 page": store_client.get("/store/acme/orders/123456"),
        "static": anonymous.get("/static/mercato.css"),
        "api json": anonymous.get(
            "/api/v1/store/marketplace/imports", headers={"Authorization": f"Bearer {token}"}
        ),
        "api error": anonymous.get("/api/v1/nope"),
        "openapi": anonymous.get("/api/v1/openapi.json"),
        "health": anonymous.get("/healthz"),
    }
    for what, response in responses.items():
        assert response.status_code < 500, what
        _assert_secured(response, what)


def test_the_policy_allows_only_the_apps_own_resources():
    directives = dict(
        (part.split(" ", 1) + [""])[:2] for part in CONTENT_SECURITY_POLICY.split("; ")
    )
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"  # Pico's icons are data: SVGs
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_templates_hold_no_inline_script_style_or_handler():
    """What the policy would block, caught before a browser test has to (every template)."""
    import re
    from pathlib import Path

    root = Path(config.ROOT / "webapp" / "templates")
    forbidden = [
        (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
        (re.compile(r"<style\b", re.I), "<style> element"),
        (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
        (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
        (re.compile(r"javascript:", re.I), "javascript: URL"),
        (re.compile(r"\bhx-on", re.I), "hx-on (needs eval)"),
        (re.compile(r"hx-trigger=\"[^\"]*\b[a-z]+\[", re.I), "trigger filter (needs eval)"),
        (re.compile(r"hx-(vals|vars)=['\"]\s*(js|javascript):", re.I), "js: value (needs eval)"),
    ]
    found = [
        f"{path.relative_to(root)}: {what}"
        for path in sorted(root.rglob("*.html"))
        for pattern, what in forbidden
        if pattern.search(path.read_text())
    ]
    assert found == []


def _failed_login(client, address: str | None = None, forwarded: str | None = None):
    environ = {"REMOTE_ADDR": address} if address else {}
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    page = client.get("/login", environ_base=environ, headers=headers)
    return client.post(
        "/login",
        data={"email": "nobody@acme.test", "password": "nope", "csrf_token": csrf_from(page.text)},
        environ_base=environ,
        headers=headers,
    )


ROUTER = "10.1.2.3"  # every request arrives from the proxy's address


def _throttled_addresses(redis_conn) -> set[str]:
    return {key.decode().rsplit(":", 1)[-1] for key in redis_conn.scan_iter("mercato:login:addr:*")}


def test_without_trusted_proxies_a_forwarded_address_is_ignored(app, redis_conn):
    """The default: a client cannot pick its address (and escape the per-address limit)."""
    client = app.test_client()
    for n in range(3):
        assert _failed_login(client, ROUTER, f"203.0.113.{n}").status_code == 401
    assert _throttled_addresses(redis_conn) == {ROUTER}


def test_behind_one_trusted_proxy_each_client_has_its_own_address(app, redis_conn, store_user):
    from werkzeug.middleware.proxy_fix import ProxyFix

    from webapp import create_app

    proxied = create_app({**app.config, "MERCATO_TRUSTED_PROXIES": 1})
    assert isinstance(proxied.wsgi_app, ProxyFix)
    client = proxied.test_client()
    # A client that sends its own X-Forwarded-For gets the router's hop appended after it:
    # only the last hop (the router's own) is believed.
    assert _failed_login(client, ROUTER, "198.51.100.7").status_code == 401
    assert _failed_login(client, ROUTER, "6.6.6.6, 198.51.100.8").status_code == 401
    assert _throttled_addresses(redis_conn) == {"198.51.100.7", "198.51.100.8"}
    # Twenty failures from one client lock that client only, not everyone behind the router.
    for _ in range(20):
        _failed_login(client, ROUTER, "198.51.100.7")
    assert _failed_login(client, ROUTER, "198.51.100.7").status_code == 429
    page = client.get("/login", environ_base={"REMOTE_ADDR": ROUTER})
    other = client.post(
        "/login",
        data={"email": store_user.email, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
        environ_base={"REMOTE_ADDR": ROUTER},
        headers={"X-Forwarded-For": "198.51.100.9"},
    )
    assert other.status_code == 302
    with proxied.app_context():
        from webapp.extensions import db

        db.engine.dispose()


def test_the_proxy_count_is_read_from_the_environment():
    base = {"MERCATO_ENV": "test", "SECRET_KEY": "x" * 40, "MERCATO_ENCRYPTION_KEYS": "k"}
    assert config.load(base)["MERCATO_TRUSTED_PROXIES"] == 0
    assert config.load({**base, "MERCATO_TRUSTED_PROXIES": "1"})["MERCATO_TRUSTED_PROXIES"] == 1
    for bad in ("-1", "one"):
        with pytest.raises(config.ConfigError, match="MERCATO_TRUSTED_PROXIES"):
            config.load({**base, "MERCATO_TRUSTED_PROXIES": bad})


def test_a_nul_character_in_a_page_request_is_a_400_before_any_view(app, store, store_client):
    from webapp.extensions import db
    from webapp.models import Store

    assert store_client.get("/store/acme/orders?q=a%00b").status_code == 400
    csrf = csrf_from(store_client.get("/store/acme/settings").text)
    response = store_client.post(
        "/store/acme/settings",
        data={"csrf_token": csrf, "name": "Acme\x00 Evil", "default_language": "fr"},
    )
    assert response.status_code == 400 and "NUL character" in response.text
    db.session.expire_all()
    assert db.session.get(Store, store.id).name == "Acme"
    # The API answers for its own parameters, as its document says (422, not this 400).
    assert app.test_client().get("/api/v1/openapi.json?x=%00").status_code == 200

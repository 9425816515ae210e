"""The statement timeout: no page holds a web worker for long; nothing else is limited."""

from __future__ import annotations

import time

import pytest
from flask import jsonify
from sqlalchemy import text

from webapp.extensions import db

SLOW_SQL = {
    "postgresql": "SELECT pg_sleep(3)",
    # Some tens of millions of steps: seconds of work, interrupted by the progress handler.
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 50000000) SELECT count(*) FROM c",
}


@pytest.fixture
def slow_routes(app, backend):
    """A page and an API URL that run a statement of seconds (registered before any
    request, as the app's own routes are)."""

    def slow():
        return jsonify(value=db.session.execute(text(SLOW_SQL[backend])).scalar())

    app.add_url_rule("/slow-page", "slow_page", slow)
    app.add_url_rule("/api/v1/slow", "slow_api", slow)
    app.config["MERCATO_WEB_STATEMENT_TIMEOUT"] = 0.3
    return app


def test_a_slow_statement_frees_the_worker_with_a_503_that_says_why(slow_routes, backend):
    client = slow_routes.test_client()
    started = time.monotonic()
    page = client.get("/slow-page")
    assert time.monotonic() - started < 2.5
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "took longer than 0.3 seconds" in page.text and "<html" in page.text
    api = client.get("/api/v1/slow")
    assert api.status_code == 503
    assert "took longer than 0.3 seconds" in api.get_json()["error"]["message"]
    # The session was rolled back: the next request of this app works.
    assert client.get("/login").status_code == 200


def test_no_limit_outside_requests(app, backend):
    """Workers, the scheduler and the CLI run no request: their statements are not limited."""
    app.config["MERCATO_WEB_STATEMENT_TIMEOUT"] = 0.001
    db.session.rollback()
    if backend == "postgresql":
        assert db.session.execute(text("SHOW statement_timeout")).scalar() == "0"
        assert db.session.execute(text("SELECT pg_sleep(0.05)")).all()
    else:
        steps = SLOW_SQL["sqlite"].replace("50000000", "300000")
        assert db.session.execute(text(steps)).scalar() == 300000
    db.session.rollback()


def test_a_page_blocked_by_a_lock_is_stopped_then_works_again(app, store, store_client, backend):
    """A real stall: another session holds a lock the page's first query waits for."""
    if backend != "postgresql":
        pytest.skip("SQLite readers do not wait for a writer (WAL)")
    app.config["MERCATO_WEB_STATEMENT_TIMEOUT"] = 0.3
    db.session.commit()
    with db.engine.connect() as other:
        other.exec_driver_sql("LOCK TABLE stores IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        blocked = store_client.get("/store/acme/products")
        assert blocked.status_code == 503 and time.monotonic() - started < 2.5
        other.rollback()
    assert store_client.get("/store/acme/products").status_code == 200


def test_the_timeout_setting_is_parsed_and_checked():
    from webapp.config import ConfigError, load

    base = {"MERCATO_ENV": "test", "SECRET_KEY": "x" * 40, "MERCATO_ENCRYPTION_KEYS": "k"}
    assert load(base)["MERCATO_WEB_STATEMENT_TIMEOUT"] == 5.0
    assert (
        load({**base, "MERCATO_WEB_STATEMENT_TIMEOUT": "0.5"})["MERCATO_WEB_STATEMENT_TIMEOUT"]
        == 0.5
    )
    assert (
        load({**base, "MERCATO_WEB_STATEMENT_TIMEOUT": "0"})["MERCATO_WEB_STATEMENT_TIMEOUT"] == 0
    )
    with pytest.raises(ConfigError, match="MERCATO_WEB_STATEMENT_TIMEOUT"):
        load({**base, "MERCATO_WEB_STATEMENT_TIMEOUT": "soon"})

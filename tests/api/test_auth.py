"""Bearer tokens: who gets in, who gets 401/403/429, and what the database keeps."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from tests.api.conftest import Api, make_run
from webapp.extensions import db
from webapp.models import ApiToken
from webapp.models.base import utcnow
from webapp.models.tokens import hash_token

JOBS = "/store/marketplace/imports"
ADMIN_JOBS = "/admin/marketplace-import-jobs"


def error_of(response) -> dict:
    return response.get_json()["error"]


def test_a_valid_token_is_accepted(shop):
    response = shop.api.get(JOBS)
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "total": 0, "page": 1, "limit": 10}
    assert response.headers["Cache-Control"] == "no-store"


def test_missing_malformed_and_unknown_tokens_get_401(shop, anonymous):
    for token, headers in (
        (None, {}),
        (None, {"Authorization": "Basic dXNlcjpwYXNz"}),
        (None, {"Authorization": "Bearer"}),
        ("mct_not-a-real-token", {}),
        ("something-else", {}),
        (shop.token + "x", {}),
    ):
        response = anonymous.get(JOBS, token=token, headers=headers)
        assert response.status_code == 401, (token, headers)
        assert error_of(response)["status"] == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # every endpoint is guarded, POSTs and admin ones included
    assert anonymous.post("/store/marketplace/import", json={}).status_code == 401
    assert anonymous.get(ADMIN_JOBS).status_code == 401
    assert anonymous.get(f"{ADMIN_JOBS}/stats").status_code == 401


def test_a_revoked_token_gets_401(shop):
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == shop.user.id))
    row.revoked_at = utcnow()
    db.session.commit()
    response = shop.api.get(JOBS)
    assert response.status_code == 401
    assert "revoked" in error_of(response)["message"]


def test_a_disabled_users_token_gets_401(shop):
    shop.user.is_active = False
    db.session.commit()
    response = shop.api.get(JOBS)
    assert response.status_code == 401
    assert "disabled" in error_of(response)["message"]


def test_the_browser_session_cookie_is_not_accepted(app, store):
    from webapp.models import User

    user = User(email="cookie@example.com", store_id=store.id)
    user.set_password("correct horse battery")
    db.session.add(user)
    db.session.commit()
    client = app.test_client()
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" [^>]*value="([^"]+)"', page.get_data(as_text=True))
    login = client.post(
        "/login",
        data={
            "email": "cookie@example.com",
            "password": "correct horse battery",
            "csrf_token": csrf.group(1),
        },
    )
    assert login.status_code == 302  # logged in: the session cookie is set
    assert client.get("/account/tokens").status_code == 200
    api = Api(app, None)
    api.client = client  # same cookie jar, no token
    response = api.get(JOBS)
    assert response.status_code == 401
    assert "session" not in response.headers.get("Set-Cookie", "")


def test_the_database_holds_only_the_hash(shop):
    rows = db.session.scalars(select(ApiToken)).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.token_hash == hash_token(shop.token)
    assert re.fullmatch(r"[0-9a-f]{64}", row.token_hash)
    assert shop.token.startswith("mct_") and len(shop.token) > 40
    assert row.display_prefix == shop.token[:12]
    stored = " ".join(str(value) for value in (row.name, row.token_hash, row.display_prefix))
    assert shop.token not in stored


def test_last_used_at_is_written_at_most_once_a_minute(shop):
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == shop.user.id))
    assert row.last_used_at is None
    assert shop.api.get(JOBS).status_code == 200
    db.session.refresh(row)
    first = row.last_used_at
    assert first is not None and utcnow() - first < timedelta(seconds=10)

    recent = utcnow() - timedelta(seconds=30)
    row.last_used_at = recent
    db.session.commit()
    assert shop.api.get(JOBS).status_code == 200
    db.session.refresh(row)
    assert row.last_used_at == recent  # used 30 s ago: no new write

    stale = utcnow() - timedelta(minutes=5)
    row.last_used_at = stale
    db.session.commit()
    assert shop.api.get(JOBS).status_code == 200
    db.session.refresh(row)
    assert row.last_used_at > stale + timedelta(minutes=4)


def test_store_users_get_403_on_every_admin_endpoint(shop, store):
    run = make_run(store, shop.user)
    for method, path in (
        ("GET", ADMIN_JOBS),
        ("GET", f"{ADMIN_JOBS}/stats"),
        ("GET", f"{ADMIN_JOBS}/{run.id}"),
        ("GET", f"{ADMIN_JOBS}/{run.id}/errors"),
    ):
        response = shop.api.request(method, path)
        assert response.status_code == 403, path
        assert error_of(response) == {"status": 403, "message": "This endpoint is for admins only."}
    posted = shop.api.post(ADMIN_JOBS, json={"store_id": store.id, "source_url": "http://x.y/"})
    assert posted.status_code == 403


def test_rate_limit_answers_429_with_retry_after(app, shop, rival, monkeypatch):
    import webapp.api.auth

    app.config["MERCATO_API_RATE_PER_MINUTE"] = 3
    # 45 s into a minute, held there: the window cannot roll over mid-test
    monkeypatch.setattr(webapp.api.auth, "clock", lambda: 1_800_000_045.0)
    answers = [shop.api.get(JOBS) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"

    limited = shop.api.get(JOBS)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "15"
    assert error_of(limited)["status"] == 429
    assert shop.api.post("/store/marketplace/import", json={}).status_code == 429
    # the limit is per token: another token is unaffected
    assert rival.api.get(JOBS).status_code == 200
    # the next minute is a new window
    monkeypatch.setattr(webapp.api.auth, "clock", lambda: 1_800_000_061.0)
    assert shop.api.get(JOBS).status_code == 200


def test_the_rate_limit_defaults_to_600_a_minute(shop):
    response = shop.api.get(JOBS)
    assert response.headers["X-RateLimit-Limit"] == "600"


def test_unknown_api_urls_and_wrong_methods_answer_json(app, shop, anonymous):
    for path in ("/nope", "/store/marketplace/imports/abc", "/store/marketplace/imports/1/x"):
        response = shop.api.get(path)
        assert response.status_code == 404, path
        assert error_of(response) == {"status": 404, "message": "Not found."}
    # even without a token: the route does not exist for anybody
    assert anonymous.get("/nope").status_code == 404

    wrong = shop.api.request("DELETE", JOBS)
    assert wrong.status_code == 405
    assert error_of(wrong)["status"] == 405
    assert "GET" in wrong.headers["Allow"]
    assert shop.api.get("/store/marketplace/import").status_code == 405

    # the HTML site keeps its own error pages
    page = app.test_client().get("/definitely-not-a-page")
    assert page.status_code == 404 and not page.is_json


def test_openapi_document_needs_no_token(anonymous):
    response = anonymous.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"] == "3.1.0"


def test_an_internal_error_answers_json_500(app, shop, monkeypatch):
    import webapp.api.jobs

    def broken(query):
        raise RuntimeError("boom")

    monkeypatch.setattr(webapp.api.jobs, "job_page", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = shop.api.client.get(
        "/api/v1" + JOBS, headers={"Authorization": f"Bearer {shop.token}"}
    )
    assert response.status_code == 500
    assert error_of(response) == {
        "status": 500,
        "message": "Internal error; the request was not completed.",
    }
    assert "boom" not in response.get_data(as_text=True)


def test_app_wide_html_error_handlers_do_not_capture_api_errors(app, shop, store):
    """The HTML side may register handlers per status code (which Flask prefers over a
    blueprint's class handler); the API's answers stay JSON regardless."""
    for code in (400, 401, 403, 404, 405, 413, 422, 429):
        app.register_error_handler(code, lambda error: ("<html>page</html>", error.code))
    app.config["MAX_CONTENT_LENGTH"] = 1024
    assert shop.api.get(f"{JOBS}/12345").status_code == 404
    assert shop.api.get("/unknown").status_code == 404
    assert shop.api.request("PUT", JOBS).status_code == 405
    assert shop.api.get(ADMIN_JOBS).status_code == 403
    assert shop.api.get(JOBS, query_string={"limit": 0}).status_code == 422
    assert shop.api.get(JOBS, token="mct_nope").status_code == 401
    big = shop.api.post("/store/marketplace/import", json={"pad": "x" * 4096})
    assert big.status_code == 413
    bad = shop.api.post("/store/marketplace/import", data="{", content_type="application/json")
    assert bad.status_code == 400

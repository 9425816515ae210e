"""API test harness: users with tokens in two stores, and a client that checks every JSON
answer against the OpenAPI document (so an undocumented status or field fails a test)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from tests.api.schema import errors, resolve
from tests.inprocess_worker import InProcessWorker
from webapp.api.openapi import DOCUMENT
from webapp.extensions import db, queue
from webapp.models import ApiToken, Message, Run, User
from webapp.models import runs as R

API = "/api/v1"
FEED_PORT = 8765  # nothing listens there: runs from URLs are created, never executed here
FEED_URL = f"http://127.0.0.1:{FEED_PORT}/feed.csv"
FEED = b"id,title,price\nP1,Chair,10\nP2,Table,20\nP3,,5\nP4,Lamp,oops\n"


def documented_path(rule: str) -> str:
    """Flask's '/api/v1/x/<int:job_id>' as OpenAPI's '/x/{job_id}'."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)[len(API) :]


def assert_documented(app, method: str, path: str, response) -> None:
    """The answer is JSON, its status is documented for the route, and the body and the
    documented headers match the OpenAPI document."""
    assert response.is_json, (response.status_code, response.data[:300])
    body = response.get_json()
    try:
        rule, _ = app.url_map.bind("localhost").match(path, method=method, return_rule=True)
    except (NotFound, MethodNotAllowed):
        assert errors(DOCUMENT, {"$ref": "#/components/schemas/Error"}, body) == []
        return
    template = documented_path(rule.rule)
    operation = DOCUMENT["paths"][template][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {template}: undocumented {status} {body}"
    documented = resolve(DOCUMENT, operation["responses"][status])
    schema = documented["content"]["application/json"].get("schema")
    if schema is not None:
        assert errors(DOCUMENT, schema, body) == [], body
    for header in documented.get("headers", {}):
        assert header in response.headers, f"{method} {template} {status}: no {header} header"


class Api:
    """The Flask test client speaking to /api/v1 with a bearer token."""

    def __init__(self, app, token: str | None) -> None:
        self.app = app
        self.token = token
        self.client = app.test_client()

    def request(self, method: str, path: str, *, token: str | None = "default", **kwargs):
        token = self.token if token == "default" else token
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.open(API + path, method=method, headers=headers, **kwargs)
        db.session.rollback()  # our session must see what the request committed
        assert_documented(self.app, method, API + path, response)
        return response

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def upload(self, path: str, content: bytes = FEED, name: str = "feed.csv", **fields):
        data = {"file": (io.BytesIO(content), name), **fields}
        return self.post(path, data=data, content_type="multipart/form-data")


@dataclass
class Person:
    user: User
    token: str
    api: Api


def make_person(app, email: str, *, store=None, admin: bool = False) -> Person:
    user = User(email=email, is_admin=admin, store_id=store.id if store else None)
    user.password_hash = "unused"  # noqa: S105 - API tests never log in with a password
    db.session.add(user)
    db.session.flush()
    _row, token = ApiToken.issue(user, f"{email} token")
    db.session.commit()
    return Person(user, token, Api(app, token))


@pytest.fixture
def feeds_allowed(app):
    app.config["MERCATO_OUTBOUND_ALLOW"] = [f"127.0.0.1:{FEED_PORT}"]


@pytest.fixture
def admin(app, feeds_allowed) -> Person:
    return make_person(app, "admin@example.com", admin=True)


@pytest.fixture
def shop(app, store, feeds_allowed) -> Person:
    return make_person(app, "shop@example.com", store=store)


@pytest.fixture
def rival(app, other_store, feeds_allowed) -> Person:
    return make_person(app, "rival@example.com", store=other_store)


@pytest.fixture
def anonymous(app) -> Api:
    return Api(app, None)


def make_run(store, user: User | None = None, **fields: Any) -> Run:
    """A run row as a worker would leave it (no execution), for listing and filtering."""
    values = {"source_url": f"https://feeds.example.com/{store.code}.csv", "status": R.COMPLETED}
    values.update(fields)
    run = Run(store_id=store.id, user_id=user.id if user else None, trigger="api", **values)
    db.session.add(run)
    db.session.commit()
    return run


def add_messages(run: Run, *specs: tuple[int | None, str, str]) -> list[Message]:
    """Messages (row_number, severity, error_type) on ``run``, in the order given."""
    rows = [
        Message(
            import_job_id=run.id,
            row_number=row,
            severity=severity,
            error_type=error_type,
            identifier=f"ID{row}" if row else None,
            error_message=f"{error_type} on row {row}",
            row_data={"id": f"ID{row}"} if row else None,
        )
        for row, severity, error_type in specs
    ]
    db.session.add_all(rows)
    db.session.commit()
    return rows


def work_imports() -> bool:
    """Drain the imports queue with an in-process RQ worker (it uses the test app)."""
    imports = queue("imports")
    return InProcessWorker([imports], connection=imports.connection).work(burst=True)

"""Test harness: every database test runs on SQLite and, when TEST_DATABASE_URL is
set, on PostgreSQL too; Redis is real (REDIS_URL / TEST_REDIS_URL, flushed per test).

The schema is built once per back-end by the Alembic revisions themselves
(``flask db upgrade``), so the tests also prove the migrations.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, text

os.environ.setdefault("MERCATO_ENV", "test")

from flask_migrate import upgrade  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.config import database_url  # noqa: E402
from webapp.extensions import db  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "real"
BACKENDS = ["sqlite", "postgresql"]
# Production hashes passwords with Werkzeug's scrypt (n=2**15, ~0.1 s a hash, and a login
# checks one); tests use a cheap scrypt through the same code. tests/webapp/test_auth.py
# checks the production default.
TEST_PASSWORD_HASH_METHOD = "scrypt:256:8:1"


class SharedTemplateCache(BytecodeCache):
    """Compiled templates kept in memory for every app of the session.

    Each test builds its own app, whose Jinja environment would otherwise parse and compile
    every template it renders again. A template is reused only while its source checksum
    matches (Jinja checks it on load)."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        code = self.compiled.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CACHE = SharedTemplateCache()


# --- parallel runs (pytest-xdist): each worker its own database, Redis and folders -------
_WORKER_RESOURCES = None


def pytest_configure(config) -> None:
    """In an xdist worker, before any test: its own PostgreSQL database, Redis and work
    directory, in os.environ for the fixtures and every process a test starts (see
    tests/workers.py). Nothing changes in a serial run or in the controller."""
    global _WORKER_RESOURCES
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker is None or _WORKER_RESOURCES is not None:
        return
    from tests.workers import WorkerResources

    _WORKER_RESOURCES = WorkerResources(worker)
    _WORKER_RESOURCES.setup()


def pytest_unconfigure(config) -> None:
    global _WORKER_RESOURCES
    if _WORKER_RESOURCES is not None:
        _WORKER_RESOURCES.close()
        _WORKER_RESOURCES = None


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent with -p no:xdist
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` (make test): tests handed out one by one, except that a module
    using a module-, class- or package-scoped fixture goes to one worker whole, so that
    fixture is built once (see tests/workers.py)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.workers import make_scheduler

    return make_scheduler(config, log)


def pg_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    return database_url(url) if url else None


def redis_url() -> str:
    return (
        os.environ.get("TEST_REDIS_URL")
        or os.environ.get("REDIS_URL")
        or ("redis://127.0.0.1:6379/15")
    )


def real_fixture(*parts: str) -> Path:
    """A file of ../shared/fixtures/real, or a skip saying why (clones elsewhere lack it)."""
    path = FIXTURES.joinpath(*parts)
    if not FIXTURES.exists():
        pytest.skip(f"real fixtures folder {FIXTURES} is absent (a clone outside the workspace)")
    assert path.exists(), f"missing fixture {path}"
    return path


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_schema():
    url = pg_url()
    if url is None:
        pytest.skip(
            "TEST_DATABASE_URL is not set: PostgreSQL variant not run here (.ci/run sets it)"
        )
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


def pg_emptying_sql(conn) -> str:
    """SQL that empties every table of the migrated schema and restarts its sequences.

    What ``TRUNCATE ... RESTART IDENTITY CASCADE`` does, but as DELETEs, which cost a few
    milliseconds on the handful of rows a test leaves (TRUNCATE of every table: ~0.1 s a
    test). Tables go referencing-first, the order read from PostgreSQL's own foreign keys."""
    tables = set(
        conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                "AND tablename <> 'alembic_version'"
            )
        ).scalars()
    )
    refs = conn.execute(
        text(
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c "
            "WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace"
        )
    ).all()
    referenced_by = {table: set() for table in tables}  # table -> tables pointing at it
    for child, parent in refs:
        if child != parent:
            referenced_by[parent.strip('"')].add(child.strip('"'))
    order: list[str] = []
    while referenced_by:
        ready = sorted(t for t, children in referenced_by.items() if not children - set(order))
        if not ready:  # a cycle: fall back to what always works
            return f"TRUNCATE {', '.join(sorted(tables))} RESTART IDENTITY CASCADE"
        for table in ready:
            order.append(table)
            del referenced_by[table]
    # Table names as PostgreSQL's catalog spells them, no value from outside.
    deletes = "".join(f'DELETE FROM "{table}";' for table in order)  # noqa: S608
    restart = (
        "SELECT setval(c.oid, 1, false) FROM pg_class c "
        "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace;"
    )
    return deletes + restart


@pytest.fixture(scope="session")
def pg_emptying(pg_schema):
    """An engine on the test database and the SQL that empties it (both made once)."""
    engine = create_engine(pg_schema)
    with engine.connect() as conn:
        sql = pg_emptying_sql(conn)
    yield engine, sql
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_uri(request, backend, tmp_path) -> str:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.sqlite3"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    engine, sql = request.getfixturevalue("pg_emptying")
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()  # no connection of ours stays open while the test runs
    return request.getfixturevalue("pg_schema")


@pytest.fixture
def redis_conn():
    from redis import Redis

    conn = Redis.from_url(redis_url())
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def app(database_uri, tmp_path, redis_conn):
    import jobs

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_uri,
            "REDIS_URL": redis_url(),
            "MERCATO_WORK_DIR": str(tmp_path / "work"),
            "WTF_CSRF_ENABLED": True,
            "MERCATO_PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH_METHOD,
        }
    )
    app.jinja_env.bytecode_cache = TEMPLATE_CACHE
    jobs._app = app  # jobs executed by in-process workers use this app

    @app.teardown_request
    def _forget_request_user(_exc):
        # Tests keep one app context open, which test requests then share; Flask-Login and
        # Flask-WTF cache the user and the CSRF token in g, so forget them after each request
        # as a fresh context would.
        from flask import g

        g.pop("_login_user", None)
        g.pop("csrf_token", None)

    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    jobs._app = None


@pytest.fixture
def store(app):
    from webapp.models import Store

    store = Store(code="acme", name="Acme")
    db.session.add(store)
    db.session.commit()
    return store


@pytest.fixture
def other_store(app):
    from webapp.models import Store

    store = Store(code="globex", name="Globex")
    db.session.add(store)
    db.session.commit()
    return store

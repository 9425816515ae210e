"""The migration chain as Alembic reads it, so a migration's test can downgrade to the
revision right before its own whatever gets inserted below it later."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from tests.conftest import pg_url
from webapp.config import ROOT


def before(revision: str) -> str:
    """The revision ``revision`` upgrades from."""
    down = ScriptDirectory(str(ROOT / "migrations")).get_revision(revision).down_revision
    assert isinstance(down, str), f"{revision} has no single parent: {down!r}"
    return down


def migration_database(backend: str, tmp_path, schema: str) -> Iterator[str]:
    """A database URL for one migration test: a SQLite file, or a schema of its own in the
    PostgreSQL test database (the suite's public schema is left alone), dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.sqlite3'}"
        return
    url = pg_url()
    if url is None:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL variant not run here")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        # Alembic's own table, empty, found before public's on the search path (public stays
        # on it for pg_trgm's operator classes).
        conn.execute(
            text(
                f"CREATE TABLE {schema}.alembic_version (version_num varchar(32) NOT NULL "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY)"
            )
        )
    yield url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema},public"
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()

"""The migration chain as Alembic reads it, so a migration's test can downgrade to the
revision right before its own whatever gets inserted below it later."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from webapp.config import ROOT


def before(revision: str) -> str:
    """The revision ``revision`` upgrades from."""
    down = ScriptDirectory(str(ROOT / "migrations")).get_revision(revision).down_revision
    assert isinstance(down, str), f"{revision} has no single parent: {down!r}"
    return down

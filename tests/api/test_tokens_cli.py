"""``flask tokens create|revoke``: an operator hands out and withdraws API tokens."""

from __future__ import annotations

import json

from sqlalchemy import select

from tests.api.conftest import Api, make_person
from webapp.extensions import db
from webapp.models import ApiToken
from webapp.models.tokens import hash_token


def invoke(app, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.rollback()
    return result


def test_create_prints_the_token_last_and_it_works(app, store):
    person = make_person(app, "ops@example.com", store=store)
    result = invoke(app, "tokens", "create", "OPS@example.com", "--name", "nightly sync")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    token = lines[-1]
    info = json.loads(lines[0])
    assert token.startswith("mct_")
    row = db.session.get(ApiToken, info["id"])
    assert (row.user_id, row.name, info["user"]) == (
        person.user.id,
        "nightly sync",
        person.user.email,
    )
    assert row.token_hash == hash_token(token) and token not in row.token_hash
    assert Api(app, token).get("/store/marketplace/imports").status_code == 200


def test_create_for_an_unknown_or_disabled_user_fails(app, store):
    assert invoke(app, "tokens", "create", "nobody@example.com").exit_code != 0
    person = make_person(app, "off@example.com", store=store)
    person.user.is_active = False
    db.session.commit()
    result = invoke(app, "tokens", "create", "off@example.com")
    assert result.exit_code != 0 and "disabled" in result.output


def test_revoke_stops_the_token(app, store):
    person = make_person(app, "rev@example.com", store=store)
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == person.user.id))
    result = invoke(app, "tokens", "revoke", str(row.id))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "id": row.id,
        "revoked": True,
        "already_revoked": False,
    }
    db.session.refresh(row)
    assert row.revoked_at is not None
    assert person.api.get("/store/marketplace/imports").status_code == 401
    again = invoke(app, "tokens", "revoke", str(row.id))
    assert again.exit_code == 0 and json.loads(again.stdout)["already_revoked"] is True
    missing = invoke(app, "tokens", "revoke", "999999")
    assert missing.exit_code != 0 and "No API token 999999" in missing.output

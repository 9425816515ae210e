"""flask accounts add / list / retire / reinstate."""

from __future__ import annotations

import json

import click
import pytest
from sqlalchemy import text

from webapp.cli_input import active_account_or_fail
from webapp.extensions import db
from webapp.models import Account


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def add_lengow(app, *extra):
    return run(
        app,
        "accounts",
        "add",
        "--store",
        "acme",
        "--connector",
        "lengow",
        "--name",
        "Lengow Menzzo",
        "--setting",
        "account_id=5622",
        "--secret",
        "access_token=tok-PLAIN",
        "--secret",
        "secret=sec-PLAIN",
        *extra,
    )


def test_add_prints_the_id_and_stores_secrets_encrypted(app, store):
    result = add_lengow(app, "--live")
    assert result.exit_code == 0, result.output
    account_id = int(result.output.strip().splitlines()[-1])
    account = db.session.get(Account, account_id)
    assert account.settings == {"account_id": "5622", "base_url": "https://api.lengow.io"}
    assert account.secrets() == {"access_token": "tok-PLAIN", "secret": "sec-PLAIN"}
    assert account.is_live
    raw = db.session.execute(text("SELECT secrets_encrypted FROM accounts")).scalar()
    assert "PLAIN" not in raw
    assert "PLAIN" not in result.output


def test_several_accounts_per_connector_and_letzshop(app, store):
    assert add_lengow(app).exit_code == 0
    second = run(
        app,
        "accounts",
        "add",
        "--store",
        "acme",
        "--connector",
        "lengow",
        "--name",
        "Lengow Cotecosy",
        "--setting",
        "account_id=6395",
        "--secret",
        "access_token=a",
        "--secret",
        "secret=b",
    )
    letz = run(
        app,
        "accounts",
        "add",
        "--store",
        "acme",
        "--connector",
        "letzshop",
        "--name",
        "Letzshop",
        "--secret",
        "api_token=t",
    )
    assert second.exit_code == 0 and letz.exit_code == 0, (second.output, letz.output)
    listed = [json.loads(line) for line in run(app, "accounts", "list").output.splitlines()]
    assert [a["name"] for a in listed] == ["Lengow Menzzo", "Lengow Cotecosy", "Letzshop"]
    assert listed[2]["secrets"] == {"api_token": "********"}
    assert listed[2]["settings"]["base_url"] == "https://letzshop.lu/graphql"


def test_invalid_accounts_are_refused_with_a_reason_and_nothing_saved(app, store):
    cases = [
        (["--connector", "shopify"], "Unknown connector"),
        (
            ["--connector", "lengow", "--secret", "access_token=a", "--secret", "secret=b"],
            "account_id",
        ),
        (
            [
                "--connector",
                "lengow",
                "--setting",
                "account_id=1",
                "--setting",
                "secret=x",
                "--secret",
                "access_token=a",
            ],
            "is a secret",
        ),
        (
            [
                "--connector",
                "lengow",
                "--setting",
                "account_id=1",
                "--secret",
                "access_token=a",
                "--secret",
                "secret=b",
                "--setting",
                "base_url=http://169.254.169.254/",
            ],
            "link-local",
        ),
        (
            [
                "--connector",
                "lengow",
                "--setting",
                "account_id=1",
                "--secret",
                "access_token=a",
                "--secret",
                "secret=b",
                "--setting",
                "colour=red",
            ],
            "unknown settings",
        ),
    ]
    for extra, reason in cases:
        result = run(app, "accounts", "add", "--store", "acme", "--name", "X", *extra)
        assert result.exit_code != 0 and reason in result.output, (extra, result.output)
    assert db.session.query(Account).count() == 0


def test_base_url_may_point_at_an_allow_listed_sandbox(app, store):
    app.config["MERCATO_OUTBOUND_ALLOW"] = ["127.0.0.1:5050"]
    result = add_lengow(app, "--setting", "base_url=http://127.0.0.1:5050")
    assert result.exit_code == 0, result.output


def test_retired_accounts_are_hidden_until_reinstated(app, store):
    account_id = int(add_lengow(app).output.strip().splitlines()[-1])
    assert run(app, "accounts", "retire", str(account_id)).exit_code == 0
    assert run(app, "accounts", "list").output.strip() == ""
    assert json.loads(run(app, "accounts", "list", "--all").output)["retired"] is True
    with pytest.raises(click.ClickException, match="reinstate"):
        active_account_or_fail(account_id)
    assert run(app, "accounts", "reinstate", str(account_id)).exit_code == 0
    assert json.loads(run(app, "accounts", "list").output)["retired"] is False


def test_new_accounts_start_in_test_mode_and_every_switch_is_recorded(app, store, monkeypatch):
    import getpass

    from sqlalchemy import select

    from webapp.models import AccountModeChange

    monkeypatch.setattr(getpass, "getuser", lambda: "ops-anna")
    created = add_lengow(app)
    assert created.exit_code == 0, created.output
    account_id = int(created.output.strip().splitlines()[-1])
    assert db.session.get(Account, account_id).is_live is False  # test mode unless --live
    # Nothing owed yet: going live sends nothing, and says so.
    live = run(app, "accounts", "live", str(account_id), "--yes")
    assert live.exit_code == 0, live.output
    assert "Nothing is owed" in live.output
    assert json.loads(live.output.strip().splitlines()[-1]) == {
        "account_id": account_id,
        "mode": "live",
        "changed": True,
        "confirmed": True,
        "choice": "send",
        "owed_total": 0,
        "owed": {},
        "released": 0,
        "discarded": 0,
        "sent": 0,
        "failed": 0,
        "deferred": 0,
        "dry_run": 0,
    }
    again = run(app, "accounts", "live", str(account_id))
    assert json.loads(again.output.strip().splitlines()[-1])["changed"] is False
    back = run(app, "accounts", "test", str(account_id), "--by", "bob@acme")
    assert json.loads(back.output.strip().splitlines()[-1])["mode"] == "test"
    db.session.expire_all()
    assert db.session.get(Account, account_id).is_live is False
    changes = db.session.scalars(
        select(AccountModeChange)
        .where(AccountModeChange.account_id == account_id)
        .order_by(AccountModeChange.id)
    ).all()
    assert [(c.from_mode, c.to_mode, c.changed_by) for c in changes] == [
        (None, "test", "cli:ops-anna"),
        ("test", "live", "cli:ops-anna"),
        ("live", "test", "bob@acme"),
    ]
    assert all(c.changed_at is not None for c in changes)
    missing = run(app, "accounts", "live", "999")
    assert missing.exit_code != 0 and "No account 999" in missing.output
    run(app, "accounts", "retire", str(account_id))
    refused = run(app, "accounts", "live", str(account_id), "--yes")
    assert refused.exit_code != 0 and "retired" in refused.output

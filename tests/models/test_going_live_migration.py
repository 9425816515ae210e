"""Migration 0016: what a go-live decided, kept on the mode change and on each call; both
ways on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from tests.models.revisions import before
from webapp.extensions import db


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns(table)}


def test_going_live_columns_both_ways(app, store):
    from webapp.accounts import create_account

    account = create_account(
        store,
        "lengow",
        "Lengow",
        settings={"account_id": "1"},
        secrets={"access_token": "token", "secret": "secret"},
    )
    db.session.commit()
    downgrade(revision=before("0016_going_live"))
    assert "owed_choice" not in _columns("account_mode_changes")
    assert "discarded_at" not in _columns("outbound_calls")
    db.session.execute(
        text(
            "INSERT INTO outbound_calls (store_id, account_id, action, dedup_key, params, method,"
            " url, status, attempts, created_at, updated_at) VALUES (:store, :account,"
            " 'order.merchant_order_id', '1', '{}', 'PATCH', 'https://x/', 'dry_run', 0,"
            " :now, :now)"
        ),
        {"store": store.id, "account": account.id, "now": "2026-11-22"},
    )
    db.session.commit()

    upgrade()
    from webapp.models import AccountModeChange, OutboundCall
    from webapp.outbound import go_live

    db.session.expire_all()
    went = go_live(db.session.get(type(account), account.id), by="mig", discard=True)
    assert went.discarded == 1
    call = db.session.scalars(sa.select(OutboundCall)).one()
    change = db.session.get(AccountModeChange, call.mode_change_id)
    assert (call.status, change.owed_choice, change.owed_count) == ("discarded", "discard", 1)
    assert change.owed["order.merchant_order_id"]["count"] == 1
    db.session.commit()

    downgrade(revision=before("0016_going_live"))
    assert {"owed", "owed_count", "owed_choice"}.isdisjoint(_columns("account_mode_changes"))
    assert {"discarded_at", "mode_change_id"}.isdisjoint(_columns("outbound_calls"))
    # A discarded call goes back to what it was before: a dry run, not a status the code
    # of that revision does not know.
    assert db.session.execute(text("SELECT status FROM outbound_calls")).scalar_one() == "dry_run"
    db.session.commit()
    upgrade()

"""Going live from the command line, and going live at the same time as something else:
against the sandbox over real HTTP, on SQLite and PostgreSQL (two workers on PostgreSQL)."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select

from tests.orders.helpers import sandbox_counters
from tests.orders.test_acks_and_modes import calls, fresh, lengow
from webapp.extensions import db
from webapp.models import Account, AccountModeChange, Order, OrderAction, OutboundCall
from webapp.models.base import utcnow
from webapp.orders.service import import_orders
from webapp.outbound import go_live, owed, send_owed

ACK = "order.merchant_order_id"


def invoke(app, *args, input=None):
    return app.test_cli_runner().invoke(args=[str(a) for a in args], input=input)


def last_json(result) -> dict:
    return json.loads(result.output.strip().splitlines()[-1])


def modes(account) -> list[tuple]:
    return [
        (c.from_mode, c.to_mode, c.owed_count, c.owed_choice)
        for c in db.session.scalars(
            select(AccountModeChange)
            .where(AccountModeChange.account_id == account.id)
            .order_by(AccountModeChange.id)
        )
    ]


def test_the_cli_shows_what_is_owed_and_asks_before_going_live(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    booked = len(calls(account))
    oldest = min(c.created_at for c in calls(account))

    declined = invoke(app, "accounts", "live", account.id, input="n\n")
    assert declined.exit_code == 1
    out = declined.output
    assert "is in test mode" in out
    assert f"{booked} call(s) to the marketplace recorded in test mode, not sent:" in out
    assert f"{booked}  Merchant order ids (order acknowledgements) ({ACK})" in out
    assert f"oldest {oldest:%Y-%m-%d %H:%M} UTC" in out
    assert f"e.g. PATCH {sandbox}/v3.0/orders/moi/" in out
    assert f"Go live? The {booked} owed call(s) are sent now, once. [y/N]" in out
    summary = last_json(declined)
    assert summary["changed"] is False and summary["confirmed"] is False
    assert summary["mode"] == "test" and summary["owed_total"] == booked
    assert summary["owed"] == {ACK: {"count": booked, "oldest": oldest.isoformat()}}
    # No answer at all (a script without --yes): the same, and it says how to confirm.
    silent = invoke(app, "accounts", "live", account.id)
    assert silent.exit_code == 1 and "pass --yes" in silent.output
    assert last_json(silent)["confirmed"] is False
    fresh()
    assert not db.session.get(Account, account.id).is_live
    assert {c.status for c in calls(account)} == {"dry_run"}
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == 0
    assert modes(account) == [(None, "test", None, None)]

    confirmed = invoke(app, "accounts", "live", account.id, "--by", "carol", input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    summary = last_json(confirmed)
    assert (summary["changed"], summary["choice"], summary["released"], summary["sent"]) == (
        True,
        "send",
        booked,
        booked,
    )
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == booked
    fresh()
    assert modes(account)[-1] == ("test", "live", booked, "send")


def test_discard_owed_never_sends_what_test_mode_recorded(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    booked = len(calls(account))
    result = invoke(app, "accounts", "live", account.id, "--discard-owed", input="y\n")
    assert result.exit_code == 0, result.output
    assert f"Go live? The {booked} owed call(s) are discarded: never sent." in result.output
    assert f"{booked} owed call(s) discarded: they are never sent." in result.output
    summary = last_json(result)
    assert (summary["choice"], summary["discarded"], summary["released"], summary["sent"]) == (
        "discard",
        booked,
        0,
        0,
    )
    fresh()
    assert {c.status for c in calls(account)} == {"discarded"}
    assert modes(account)[-1] == ("test", "live", booked, "discard")
    # Live from now on: a later step sends nothing discarded, and new orders go out.
    assert send_owed(db.session.get(Account, account.id))["sent"] == 0
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == 0
    # --yes for scripts: no question asked.
    invoke(app, "accounts", "test", account.id)
    scripted = invoke(app, "accounts", "live", account.id, "--yes", "--discard-owed")
    assert scripted.exit_code == 0 and "[y/N]" not in scripted.output
    assert last_json(scripted)["changed"] is True


def test_a_dry_run_an_import_records_after_going_live_is_sent(app, store, sandbox):
    """An import that began in test mode may commit its dry runs after the account went live:
    the live step sends them (they are the live account's calls), once."""
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    booked = len(calls(account))
    went = go_live(account, by="dora", discard=True)
    assert went.discarded == booked
    straggler = calls(account)[0]
    db.session.add(
        OutboundCall(
            store_id=straggler.store_id,
            account_id=straggler.account_id,
            action=straggler.action,
            subject_type="order",
            subject_id=straggler.subject_id,
            dedup_key="straggler",
            params=straggler.params,
            method=straggler.method,
            url=straggler.url,
            body=straggler.body,
            status="dry_run",  # as the import, still holding test mode, wrote it
            dry_run_at=utcnow(),
        )
    )
    db.session.commit()
    assert send_owed(account)["sent"] == 1
    assert send_owed(account)["sent"] == 0
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == 1


def test_two_admins_going_live_at_once_record_one_decision_and_send_once(
    app, backend, store, sandbox
):
    if backend != "postgresql":
        pytest.skip("two concurrent go-lives are asserted on PostgreSQL; SQLite serialises them")
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    booked = len(calls(account))
    token = owed(account).token
    account_id = account.id
    db.session.commit()
    barrier = threading.Barrier(2)
    results, failures = [], []

    def admin(name: str, discard: bool):
        try:
            with app.app_context():
                mine = db.session.get(Account, account_id)
                barrier.wait(timeout=10)
                went = go_live(mine, by=name, discard=discard, expected=token)
                sent = send_owed(mine)["sent"]
                results.append((name, went.changed, went.choice, sent))
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(repr(exc))

    threads = [
        threading.Thread(target=admin, args=("ann", False)),
        threading.Thread(target=admin, args=("ben", True)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    winners = [r for r in results if r[1]]
    assert len(results) == 2 and len(winners) == 1, results
    fresh()
    changes = modes(account)
    assert len(changes) == 2 and changes[-1][:3] == ("test", "live", booked)
    winner = winners[0]
    statuses = {c.status for c in calls(account)}
    if winner[2] == "send":
        assert statuses == {"sent"}
        assert sandbox_counters(sandbox)["merchant_order_ids_set"] == booked
        assert sum(r[3] for r in results) == booked
    else:
        assert statuses == {"discarded"}
        assert sandbox_counters(sandbox)["merchant_order_ids_set"] == 0
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(OutboundCall)
            .where(OutboundCall.account_id == account.id, OutboundCall.mode_change_id.is_(None))
        )
        == 0
    )


def owed_actions(app, store, sandbox):
    """A test-mode account with an order shipped and another cancelled: dry runs of both."""
    from tests.orders.test_fulfilment import ready
    from webapp.orders.fulfilment import record_action, record_shipment

    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    first = ready(account)
    ship = record_shipment(first, "Colissimo", None, "TRK-LIVE", None).actions[0]
    second = next(
        o
        for o in db.session.scalars(
            select(Order).where(Order.account_id == account.id, Order.status == "confirmed")
        )
        if o.id != first.id
    )
    cancel = record_action(second, "cancel", args={"reason": "NoInventory"}).actions[0]
    return account, ship.id, cancel.id


def test_going_live_shows_order_actions_by_kind_and_sends_each_once(app, store, sandbox):
    account, ship_id, cancel_id = owed_actions(app, store, sandbox)
    acks = len(calls(account, action=ACK))
    summary = owed(account)
    assert {a["action"]: a["count"] for a in summary.actions} == {
        ACK: acks,
        "order.cancel": 1,
        "order.ship": 1,
    }
    shown = invoke(app, "accounts", "live", account.id, input="n\n").output
    assert "1  Order actions: ship (order.ship)" in shown
    assert "1  Order actions: cancel (order.cancel)" in shown
    assert f"e.g. POST {sandbox}/v3.0/orders/actions/" in shown
    assert sandbox_counters(sandbox)["actions_created"] == 0
    result = invoke(app, "accounts", "live", account.id, "--yes", "--by", "erin")
    assert result.exit_code == 0, result.output
    said = last_json(result)
    assert (said["choice"], said["released"], said["sent"]) == ("send", acks + 2, acks + 2)
    assert said["owed"]["order.ship"]["count"] == 1
    fresh()
    assert sandbox_counters(sandbox)["actions_created"] == 2  # one ship, one cancel
    for action_id in (ship_id, cancel_id):
        action = db.session.get(OrderAction, action_id)
        assert action.state == "sent" and action.sent_at is not None and action.error is None
    assert {c.status for c in calls(account)} == {"sent"}
    # once: another step, another go-live, send nothing more
    assert send_owed(db.session.get(Account, account.id))["sent"] == 0
    assert invoke(app, "accounts", "live", account.id, "--yes").exit_code == 0
    assert sandbox_counters(sandbox)["actions_created"] == 2


def test_going_live_discarding_never_sends_the_order_actions(app, store, sandbox):
    account, ship_id, cancel_id = owed_actions(app, store, sandbox)
    went = go_live(account, by="fred", discard=True)
    assert went.owed.token and {a["action"] for a in went.owed.actions} >= {
        "order.ship",
        "order.cancel",
    }
    fresh()
    assert {c.status for c in calls(account)} == {"discarded"}
    for action_id in (ship_id, cancel_id):
        action = db.session.get(OrderAction, action_id)
        assert action.state == "dry_run"
        assert action.error == "Not sent: discarded by fred when the account went live."
    assert send_owed(db.session.get(Account, account.id))["sent"] == 0
    assert sandbox_counters(sandbox)["actions_created"] == 0

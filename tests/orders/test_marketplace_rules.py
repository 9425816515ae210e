"""Shipments and actions validated against the order's marketplace rules (Lengow's
``GET /v3.0/marketplaces``, served by the sandbox over real HTTP) before anything is recorded;
the rules kept per account in Redis for a day, fetched once."""

from __future__ import annotations

import json

import pytest
from redis import Redis

from tests.orders.helpers import sandbox_counters
from tests.orders.test_acks_and_modes import lengow
from tests.orders.test_fulfilment import counts, ready, run_cli, ship_calls
from webapp.accounts import create_account
from webapp.extensions import db, redis_connection
from webapp.models import Order
from webapp.orders import marketplace_rules
from webapp.orders.fulfilment import Refused, record_action, record_shipment
from webapp.orders.service import import_orders


def requests_made(sandbox) -> int:
    return sandbox_counters(sandbox)["requests"]


def test_a_ship_without_its_required_carrier_is_refused_naming_what_is_allowed(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account)
    before = counts()
    with pytest.raises(Refused) as refused:
        record_shipment(order, None, None, "TRK-NC", None)
    [problem] = refused.value.problems
    assert problem.startswith("carrier is required for ship on ")
    rules = marketplace_rules.rules_for(account)
    allowed = rules[order.channel].actions["ship"].args["carrier"].valid_values
    assert f": one of {next(iter(allowed))}" in problem and "Other" in problem
    assert counts() == before
    # the same shipment with a carrier the marketplace lists is recorded
    done = record_shipment(
        db.session.get(Order, order.id),
        "Other",
        None,
        "TRK-NC",
        None,
        args={"carrier_name": "Local courier"},
    )
    assert len(done.actions) == 1 and not done.already
    [call] = ship_calls(account)
    assert (call.body["carrier"], call.body["carrier_name"]) == ("Other", "Local courier")


def test_carrier_other_requires_its_name_and_a_reason_outside_the_list_is_refused(
    app, store, sandbox
):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account)
    before = counts()
    # depends_on: carrier Other makes carrier_name required
    with pytest.raises(
        Refused, match=r"carrier_name is required for ship on .* \(because carrier equals 'Other'\)"
    ):
        record_shipment(order, "Other", None, "TRK-O", None)
    # cancel reasons are a closed list (accept_free_values false)
    with pytest.raises(Refused) as refused:
        record_action(order, "cancel", args={"reason": "out_of_stock"})
    assert refused.value.problems == [
        "reason 'out_of_stock' is not allowed: choose one of NoInventory (No inventory), "
        "BuyerCanceled (Buyer canceled), ShippingAddressUndeliverable "
        "(Shipping address undeliverable)"
    ]
    # an action the marketplace does not offer in the order's status
    with pytest.raises(Refused, match="does not take refund for an order in status"):
        record_action(order, "refund")
    assert counts() == before
    done = record_action(order, "cancel", args={"reason": "BuyerCanceled"})
    assert done.actions[0].arguments == {"reason": "BuyerCanceled"}


def test_the_rules_are_fetched_once_then_served_from_the_cache(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    key = marketplace_rules.cache_key(account)
    assert redis_connection().exists(key) == 0
    first = requests_made(sandbox)
    order = ready(account)
    record_shipment(order, "Colissimo", None, "TRK-A", None)
    fetched = requests_made(sandbox)
    assert fetched > first  # the rules were read (test mode sends nothing else)
    assert 0 < redis_connection().ttl(key) <= marketplace_rules.TTL
    # from now on: no request, whether the next one is refused or recorded
    with pytest.raises(Refused):
        record_action(db.session.get(Order, order.id), "cancel", args={"reason": "nope"})
    second = ready(account)
    record_shipment(second, "UPS", None, "TRK-B", None)
    assert requests_made(sandbox) == fetched
    # refreshed on demand: fetched again, kept for another day
    rules = marketplace_rules.refresh(account)
    assert requests_made(sandbox) > fetched
    assert marketplace_rules.summary(rules)["marketplaces"] == len(rules) > 0
    assert 0 < redis_connection().ttl(key) <= marketplace_rules.TTL


def test_with_redis_down_the_rules_are_fetched_directly(app, store, sandbox, tmp_path):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account)
    real = app.extensions["mercato_redis"]
    app.extensions["mercato_redis"] = Redis(unix_socket_path=str(tmp_path / "no-redis.sock"))
    try:
        before = requests_made(sandbox)
        rules = marketplace_rules.rules_for(account)
        assert order.channel in rules
        assert requests_made(sandbox) > before
        with pytest.raises(Refused, match="carrier is required for ship"):
            record_shipment(order, None, None, "TRK-R", None)
    finally:
        app.extensions["mercato_redis"] = real
    assert real.exists(marketplace_rules.cache_key(account)) == 0


def test_cli_rules_refresh_fetches_keeps_and_summarises(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    key = marketplace_rules.cache_key(account)
    before = requests_made(sandbox)
    result = run_cli(app, "orders", "rules", "refresh", "--account", account.id)
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert requests_made(sandbox) > before
    rules = marketplace_rules.rules_for(account)  # served from what the command kept
    assert summary == {
        "account_id": account.id,
        "marketplaces": len(rules),
        "actions": {code: sorted(m.actions) for code, m in sorted(rules.items())},
        "ttl": marketplace_rules.TTL,
        "cached_at": marketplace_rules.cached_at(account).isoformat() + "Z",
    }
    assert "ship" in summary["actions"][next(iter(rules))]
    assert 0 < redis_connection().ttl(key) <= marketplace_rules.TTL
    # a connector without marketplace rules: exit 1, the reason on stderr
    letz = create_account(
        store,
        "letzshop",
        "Letzshop",
        settings={"base_url": sandbox},
        secrets={"api_token": "t"},
        by="test-suite",
    )
    refused = run_cli(app, "orders", "rules", "refresh", "--account", letz.id)
    assert refused.exit_code == 1 and "has no marketplace rules" in refused.stderr


def test_the_request_sent_is_the_one_the_rules_resolve(app, store, sandbox):
    """Live through the sandbox, whose marketplace checks the arguments it receives: a ship
    line by line with a date in another zone and a carrier name that only goes with "Other",
    then a refund with a price as a number. The sandbox's refund_reason is optional with a
    default: not sent (defaults fill required arguments only, as the Lengow plugin does:
    connectors/lengow/unverified.py DEFAULTS_FOR_REQUIRED_ONLY)."""
    from tests.orders.test_acks_and_modes import calls
    from webapp.outbound import send_owed

    account = lengow(app, store, sandbox, live=True)
    import_orders(account)
    send_owed(account)  # the acknowledgements
    order = ready(account)
    line = order.items[0]
    done = record_shipment(
        order,
        "ups",  # the marketplace's code is "UPS"
        "United Parcel Service",  # only sent with carrier "Other": Amazon refuses it otherwise
        "1Z-RES",
        "https://ups.example/1Z-RES",
        [(line.channel_line_id, None)],
        args={"shipping_date": "2026-12-06T10:00:00+01:00"},
    )
    [call] = ship_calls(account)
    assert call.body == {
        "account_id": 5622,
        "marketplace": order.channel,
        "marketplace_order_id": order.channel_order_id,
        "action_type": "ship",
        "carrier": "UPS",
        "tracking_number": "1Z-RES",
        "tracking_url": "https://ups.example/1Z-RES",
        "shipping_date": "2026-12-06T09:00:00Z",
        "line": line.channel_line_id,
    }
    # what the merchant asked stays on the action; the call carries what is sent
    assert done.actions[0].arguments == {"shipping_date": "2026-12-06T10:00:00+01:00"}
    rest = [(i.channel_line_id, None) for i in db.session.get(Order, order.id).items[1:]]
    if rest:
        record_shipment(db.session.get(Order, order.id), "UPS", None, "1Z-RES2", None, rest)
    assert send_owed(account)["sent"] == 1 + bool(rest)
    assert {c.status for c in ship_calls(account)} == {"sent"}
    order = db.session.get(Order, order.id)
    assert order.status == "shipped"
    record_action(order, "refund", [(line.channel_line_id, None)], {"refund_price": "12.50"})
    [refund] = calls(account, action="order.refund")
    assert "refund_reason" not in refund.body
    assert refund.body["refund_price"] == 12.5 and refund.body["line"] == line.channel_line_id
    assert send_owed(account)["sent"] == 1
    db.session.expire_all()
    assert calls(account, action="order.refund")[0].status == "sent"

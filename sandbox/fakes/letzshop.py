"""The Letzshop GraphQL fake: the orders query, a cursor page at a time, and the order
actions' mutations (``confirmInventoryUnits`` to accept or decline an order's units,
``updateOrderFulfillment`` to ship with tracking), behind a bearer token.

Its orders are the shared world's ``letzshop`` channel (``sandbox.data``); its token is
``SANDBOX_LETZSHOP_TOKEN``. The mutations speak Mercato's guess of the schema
(``connectors/letzshop/queries.py``, unverified): a refusal is a GraphQL ``errors`` list in the
mutation's answer under HTTP 200. An order's inventory units are its lines' pieces (a unit per
piece, listed under each item); they are confirmed, declined or shipped all together (by the
order's number) or one by one (``inventoryUnits: [{inventoryUnitId, isAvailable}]`` to confirm
or decline, ``inventoryUnitIds`` to ship). Once no unit is unconfirmed the order is accepted (some
available) or refused (none); once every available unit is shipped, it ships.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from flask import Blueprint, g, request

from sandbox.data import LETZSHOP, LETZSHOP_STATUSES, Order, parse_date
from sandbox.fake import Fake, current, json_bytes

bp = Blueprint("letzshop", __name__)


def graphql_error(status: int, message: str, code: str = "INTERNAL", headers=None):
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    return json_bytes(body, status, headers)


LETZSHOP_ORDERS_RE = re.compile(r"\borders\s*\(")
CONFIRM_RE = re.compile(r"\bconfirmInventoryUnits\s*\(")
FULFILMENT_RE = re.compile(r"\bupdateOrderFulfillment\s*\(")
# Mercato's order statuses the fake's world walks through, per mutation: from, to.
PENDING = ("new", "waiting_acceptance")
SHIPPABLE = ("accepted", "waiting_shipment")
FIRST_RE = re.compile(r"\bfirst\s*:\s*(\d+)")
AFTER_RE = re.compile(r'\bafter\s*:\s*"([^"]*)"')


def _cursor(index: int) -> str:
    return base64.b64encode(f"arrayconnection:{index}".encode()).decode()


def _uncursor(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    prefix, _, number = text.partition(":")
    if prefix != "arrayconnection" or not number.isdigit():
        raise ValueError("invalid cursor")
    return int(number)


@bp.post("/graphql")
def graphql():
    sb = current()
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or token.strip() != sb.letzshop_token:
        sb.count("token_rejections")
        return graphql_error(401, "Unauthorized: invalid or missing token", "UNAUTHENTICATED")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return graphql_error(400, "Expected a JSON body with a query", "BAD_REQUEST")
    query = body["query"]
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return graphql_error(400, "variables must be an object", "BAD_REQUEST")
    if CONFIRM_RE.search(query):
        return _confirm(sb, variables)
    if FULFILMENT_RE.search(query):
        return _fulfil(sb, variables)
    if not LETZSHOP_ORDERS_RE.search(query):
        return graphql_error(
            400,
            "The sandbox answers the orders query, confirmInventoryUnits and "
            "updateOrderFulfillment only",
            "GRAPHQL_VALIDATION_FAILED",
        )
    try:
        first = variables.get("first")
        if first is None:
            match = FIRST_RE.search(query)
            first = int(match.group(1)) if match else 100
        if isinstance(first, bool) or not isinstance(first, int) or first < 1:
            raise ValueError("first must be a positive integer")
        first = min(first, 100)
        after = variables.get("after")
        if after is None:
            match = AFTER_RE.search(query)
            after = match.group(1) if match else None
        offset = _uncursor(after) + 1 if after else 0
        since = variables.get("since")
        since_ts = parse_date(since) if since else None
        statuses = variables.get("status")
        if statuses is not None:
            if isinstance(statuses, str):
                statuses = [statuses]
            bad = [s for s in statuses if s not in LETZSHOP_STATUSES]
            if bad:
                raise ValueError(f"Value {bad[0]!r} is not a valid OrderStatus")
            statuses = set(statuses)
    except (ValueError, TypeError) as exc:
        return graphql_error(400, str(exc), "BAD_USER_INPUT")
    world = sb.world
    now = g.now
    with world.lock:
        selected = [
            o
            for o in world.channels[LETZSHOP]
            if (since_ts is None or o.updated >= since_ts)
            and (statuses is None or o.letzshop_status() in statuses)
        ]
        selected.sort(key=lambda o: (o.updated, o.seq))
        chunk = selected[offset : offset + first]
        edges = b",".join(
            b'{"cursor":"%s","node":%s}' % (_cursor(offset + i).encode(), o.letzshop_json())
            for i, o in enumerate(chunk)
        )
        total = len(selected)
    has_next = offset + len(chunk) < total
    end = json.dumps(_cursor(offset + len(chunk) - 1) if chunk else None).encode()
    out = (
        b'{"data":{"orders":{"edges":[%s],"pageInfo":{"hasNextPage":%s,"endCursor":%s},'
        b'"totalCount":%d}}}' % (edges, b"true" if has_next else b"false", end, total)
    )
    sb.count("pages_served")
    if sb.faults.get("move_on_page") == offset // first + 1 and chunk:
        world.move(LETZSHOP, chunk, now)
        sb.count("moved")
    return json_bytes(out)


def _answer(field: str, result: dict | None, problem: str | None = None):
    errors = [{"message": problem}] if problem else []
    return json_bytes(json.dumps({"data": {field: {**(result or {}), "errors": errors}}}).encode())


def _units(order: Order) -> list[dict]:
    ids = [unit for line in order.letzshop_unit_ids() for unit in line]
    return [{"id": u, "state": order.units.get(u, order.letzshop_unit_state())} for u in ids]


def _shipment(order: Order) -> dict:
    states = {u["state"] for u in _units(order)}
    state = "unconfirmed" if "unconfirmed" in states else "confirmed"
    if states == {"confirmed_unavailable"}:
        state = "declined"
    return {
        "id": base64.b64encode(f"Shipment:{order.seq}".encode()).decode(),
        "state": state,
        "inventoryUnits": _units(order),
    }


def _confirm(sb, variables: dict):
    """Accept (``isAvailable`` true) or decline (false) the order's units: all of them, or the
    ``inventoryUnits`` listed one by one."""
    field = "confirmInventoryUnits"
    given = variables.get("input")
    if not isinstance(given, dict):
        return graphql_error(400, "input must be an object", "BAD_USER_INPUT")
    listed = given.get("inventoryUnits")
    if listed is None and not isinstance(given.get("isAvailable"), bool):
        return graphql_error(400, "input.isAvailable must be a boolean", "BAD_USER_INPUT")
    if listed is not None and (
        not isinstance(listed, list)
        or not listed
        or not all(
            isinstance(u, dict)
            and isinstance(u.get("inventoryUnitId"), str)
            and isinstance(u.get("isAvailable"), bool)
            for u in listed
        )
    ):
        return graphql_error(
            400,
            "input.inventoryUnits must list {inventoryUnitId, isAvailable} objects",
            "BAD_USER_INPUT",
        )
    number = str(given.get("orderNumber") or "")
    world = sb.world
    with world.lock:
        order = world.find(LETZSHOP, "letzshop", number)
        if order is None:
            return _answer(field, None, f"Order {number!r} not found")
        if order.status not in PENDING:
            return _answer(
                field,
                None,
                f"Order {number} is {order.letzshop_status()}: its units are not unconfirmed",
            )
        states = {u["id"]: u["state"] for u in _units(order)}
        if listed is None:
            listed = [
                {"inventoryUnitId": unit, "isAvailable": given["isAvailable"]} for unit in states
            ]
        for unit in listed:
            unit_id = unit["inventoryUnitId"]
            if unit_id not in states:
                return _answer(field, None, f"Unknown inventory unit {unit_id!r}")
            if states[unit_id] != "unconfirmed":
                return _answer(field, None, f"Inventory unit {unit_id} is {states[unit_id]}")
        for unit in listed:
            available = unit["isAvailable"]
            order.units[unit["inventoryUnitId"]] = (
                "confirmed_available" if available else "confirmed_unavailable"
            )
            sb.count("letzshop_units_confirmed" if available else "letzshop_units_declined")
        order.touch(g.now)
        now_states = {u["state"] for u in _units(order)}
        if "unconfirmed" not in now_states:
            accepted = "confirmed_available" in now_states
            world.apply_action(order, "accept" if accepted else "refuse", g.now)
            sb.count("letzshop_confirmed" if accepted else "letzshop_declined")
            order.units = {
                u: state for u, state in order.units.items() if state != order.letzshop_unit_state()
            }
        shipment = _shipment(order)
    return _answer(field, {"shipment": shipment})


def _fulfil(sb, variables: dict):
    """The order (or the ``inventoryUnitIds`` listed) shipped, with its tracking (kept on the
    order, not read back: as Letzshop)."""
    field = "updateOrderFulfillment"
    given = variables.get("input")
    tracking = given.get("tracking") if isinstance(given, dict) else None
    if not isinstance(tracking, dict) or given.get("status") != "SHIPPED":
        return graphql_error(
            400, "input.status must be SHIPPED, with input.tracking", "BAD_USER_INPUT"
        )
    listed = given.get("inventoryUnitIds")
    if listed is not None and (
        not isinstance(listed, list) or not listed or not all(isinstance(u, str) for u in listed)
    ):
        return graphql_error(400, "input.inventoryUnitIds must list unit ids", "BAD_USER_INPUT")
    number = str(variables.get("orderId") or "")
    world = sb.world
    with world.lock:
        order = world.find(LETZSHOP, "letzshop", number)
        if order is None:
            return _answer(field, None, f"Order {number!r} not found")
        if order.status not in SHIPPABLE:
            return _answer(
                field, None, f"Order {number} is {order.letzshop_status()}: it cannot ship"
            )
        if not tracking.get("trackingNumber"):
            return _answer(field, None, "A shipment needs a tracking number")
        states = {u["id"]: u["state"] for u in _units(order)}
        for unit_id in listed or []:
            if unit_id not in states:
                return _answer(field, None, f"Unknown inventory unit {unit_id!r}")
            if states[unit_id] != "confirmed_available":
                return _answer(
                    field, None, f"Inventory unit {unit_id} is {states[unit_id]}: it cannot ship"
                )
        if listed:
            for unit_id in listed:
                order.units[unit_id] = "shipped"
            sb.count("letzshop_units_shipped", len(listed))
        order.trackings.append(
            {
                "number": tracking["trackingNumber"],
                "carrier": tracking.get("carrier"),
                "url": tracking.get("trackingUrl"),
            }
        )
        order.touch(g.now)
        left = [u for u in _units(order) if u["state"] == "confirmed_available"]
        if not listed or not left:
            world.apply_action(order, "ship", g.now)
            sb.count("letzshop_shipped")
        result = {"order": {"id": order.letzshop_payload()["id"], "orderNumber": number}}
        result["order"]["status"] = order.letzshop_status()
    return _answer(field, result)


def _state(sb, summary: dict, with_ids: bool) -> dict:
    letzshop = summary[LETZSHOP]
    letzshop.pop("marketplaces", None)
    if not with_ids:
        letzshop.pop("ids")
    letzshop["token"] = sb.letzshop_token
    return {"letzshop": letzshop}


def _warm(sb) -> None:
    with sb.world.lock:
        for order in sb.world.channels[LETZSHOP]:
            order.letzshop_json()


FAKE = Fake(
    code="letzshop",
    blueprint=bp,
    prefixes=("/graphql",),
    error=graphql_error,
    index=lambda sb: {"graphql": "POST /graphql", "token": sb.letzshop_token},
    state=_state,
    banner=lambda sb, base: [
        f"  Letzshop: {base}/graphql  (Authorization: Bearer {sb.letzshop_token})"
    ],
    warm=_warm,
)

"""Fulfilment and order actions out: what the merchant did, recorded once, owed once.

:func:`record_shipment` and :func:`record_action` first validate the request against the
order (the account's connector offers the action, the lines exist, the quantities remain, a
ship has a tracking number or URL, and whatever the marketplace itself checks:
:func:`validate_with_marketplace`). A refusal raises :class:`Refused` with one clear message
per problem and writes nothing. The request each action sends carries its arguments as the
marketplace resolves them (:func:`resolve_with_marketplace`, the connector's ``resolve_action``:
Lengow's rules, Letzshop's inventory units). Otherwise one transaction writes the shipment and
its lines, the order action(s), the lines' quantities, the fulfilment events (for the stock),
the order's unified status with a history entry carrying the tracking, and the outbound call
that sends each action (:func:`webapp.outbound.record`): the one sender sends it (live) or it is a
dry run with the exact request (test mode).

Exactly once: a shipment is one per (order, tracking number or URL), so the same ship
command twice finds the first one and records nothing; each action's outbound call has a
dedup key (the shipment's, or the order's for a whole-order action), so one shipment never
owes two ship calls even when two requests race. Quantities move by conditional UPDATEs that
cannot take a line past its quantity.

Lines: without lines an action is for the whole order (what remains of it). With lines, it is
one action per line (Lengow takes one ``line`` per action), each naming the marketplace's line
id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from connectors.capabilities import Capability
from webapp.connector import connector_for
from webapp.extensions import db
from webapp.models import Order, OrderItem, OrderStatusHistory, OutboundCall
from webapp.models import fulfilment as F
from webapp.models import orders as O
from webapp.models.base import utcnow
from webapp.models.outbound import DRY_RUN
from webapp.orders import marketplace_rules
from webapp.outbound.record import call_row, record
from webapp.stock.reservations import follow_fulfilment

ITEMS = OrderItem.__table__

# The capability each action type needs of the account's connector; another type (an action
# only some marketplaces offer) needs the connector to know how to send it.
CAPABILITIES = {
    F.SHIP: Capability.FULFILMENT_OUT,
    F.ACCEPT: Capability.ORDER_ACCEPTANCE,
    F.REFUSE: Capability.ORDER_ACCEPTANCE,
    F.CANCEL: Capability.ORDER_CANCEL,
    F.PARTIAL_CANCEL: Capability.ORDER_CANCEL,
    F.REFUND: Capability.ORDER_REFUND,
}
# Types that take quantities off what remains to ship (and record "cancelled" events).
CANCELLING = (F.CANCEL, F.PARTIAL_CANCEL, F.REFUSE)
# What the marketplace request is built from: arguments may not override these.
RESERVED_ARGS = frozenset(
    {
        "channel",
        "channel_order_id",
        "account_id",
        "marketplace",
        "marketplace_order_id",
        "action_type",
        "line",
        "carrier",
        "tracking_number",
        "tracking_url",
    }
)
CLOSED = (O.CANCELLED, O.REFUNDED)
DONE = (O.SHIPPED, O.DELIVERED, O.FULFILLED, O.CANCELLED, O.REFUNDED, O.PARTIALLY_REFUNDED)


class Refused(Exception):
    """The request was not recorded; ``problems`` says why, one sentence each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


class Conflict(Refused):
    """Refused because another request changed the order at the same moment (a racing
    request recorded the same action, or took the same quantities): reading the order again
    shows what was recorded."""


@dataclass
class Recorded:
    actions: list[F.OrderAction]
    shipment: F.Shipment | None = None
    # The same shipment was recorded before: nothing new was written.
    already: bool = False
    problems: list[str] = field(default_factory=list)


def outbound_action(action_type: str) -> str:
    """The outbound call's action for an order action type ("ship" -> "order.ship")."""
    return f"order.{action_type}"


def remaining(item: OrderItem, action_type: str) -> int:
    """What an action of this type can still take of the line."""
    if action_type == F.REFUND:
        return item.quantity - item.refunded_quantity
    return item.quantity - item.shipped_quantity - item.cancelled_quantity


# -- validation -------------------------------------------------------------------------------


def _resolve(order: Order, action_type: str, lines, problems: list[str]):
    """[(item, quantity)] for the request's lines (REF: the marketplace line id, or a SKU that
    names one line only); None lines: what remains of every line (quantity types) or none."""
    counts = action_type in (F.SHIP, F.REFUND, *CANCELLING)
    if lines is None:
        if action_type == F.PARTIAL_CANCEL:
            problems.append("A partial cancel needs at least one line (--line REF[:QTY]).")
            return []
        if not counts:
            return []
        chosen = [(i, remaining(i, action_type)) for i in order.items]
        chosen = [(i, q) for i, q in chosen if q > 0]
        if not chosen:
            problems.append(f"Order #{order.id} has nothing left to {_verb(action_type)}.")
        return chosen
    chosen, seen = [], set()
    for ref, quantity in lines:
        ref = str(ref).strip()
        item = _find_line(order, ref, problems)
        if item is None:
            continue
        if item.id in seen:
            problems.append(f"Line {ref} is given twice.")
            continue
        seen.add(item.id)
        left = remaining(item, action_type) if counts else item.quantity
        if left <= 0:
            problems.append(f"Line {ref} ({item.sku}) has nothing left to {_verb(action_type)}.")
            continue
        if quantity is None:
            quantity = left
        if quantity <= 0:
            problems.append(f"Line {ref}: the quantity must be at least 1 (got {quantity}).")
            continue
        if counts and quantity > left:
            problems.append(
                f"Line {ref} ({item.sku}): {quantity} to {_verb(action_type)} but only {left} "
                f"of {item.quantity} remain."
            )
            continue
        if not item.channel_line_id:
            problems.append(
                f"Line {ref} ({item.sku}) has no marketplace line id: it can only be part of a "
                "whole-order action."
            )
            continue
        chosen.append((item, quantity))
    return chosen


def _find_line(order: Order, ref: str, problems: list[str]) -> OrderItem | None:
    by_line = [i for i in order.items if i.channel_line_id and i.channel_line_id == ref]
    if by_line:
        return by_line[0]
    by_sku = [i for i in order.items if i.sku == ref]
    if len(by_sku) == 1:
        return by_sku[0]
    if by_sku:
        ids = ", ".join(str(i.channel_line_id) for i in by_sku)
        problems.append(
            f"SKU {ref} names {len(by_sku)} lines of order #{order.id}: give the line id ({ids})."
        )
        return None
    known = ", ".join(f"{i.channel_line_id or '-'} ({i.sku})" for i in order.items)
    problems.append(f"Order #{order.id} has no line {ref} (its lines: {known}).")
    return None


def _verb(action_type: str) -> str:
    return {F.PARTIAL_CANCEL: "cancel", F.REFUSE: "refuse"}.get(action_type, action_type)


def _check_action(order: Order, connector, action_type: str, args: dict, problems: list[str]):
    name = connector.name or connector.code
    capability = CAPABILITIES.get(action_type)
    if capability is not None and not connector.supports(capability):
        problems.append(f"{name} cannot {_verb(action_type)} orders ({capability.value}).")
    elif outbound_action(action_type) not in connector.outbound_actions:
        problems.append(f"Mercato cannot send {action_type!r} actions to {name} yet.")
    clash = sorted(set(args) & RESERVED_ARGS)
    if clash:
        problems.append(
            f"Argument(s) {', '.join(clash)} are set by Mercato itself, not with --arg."
        )
    if order.status in CLOSED and action_type != F.REFUND:
        problems.append(f"Order #{order.id} is {order.status}: it cannot be {action_type}ed now.")
    if action_type in (F.ACCEPT, F.REFUSE) and order.status in DONE:
        problems.append(f"Order #{order.id} is {order.status}: there is nothing to {action_type}.")


def _sent_units(order: Order) -> dict[str, list[str]]:
    """The marketplace units (Letzshop's inventory units) each earlier action of the order
    named, by action type; failed actions name none."""
    rows = db.session.execute(
        select(F.OrderAction.type, OutboundCall.params)
        .join(OutboundCall, OutboundCall.id == F.OrderAction.outbound_call_id)
        .where(F.OrderAction.order_id == order.id, F.OrderAction.state != F.FAILED)
    ).all()
    out: dict[str, list[str]] = {}
    for action_type, params in rows:
        units = (params or {}).get("units") if isinstance(params, dict) else None
        if units:
            out.setdefault(action_type, []).extend(str(u) for u in units)
    return out


def _order_view(order: Order) -> dict:
    """The order as a connector's rules hooks read it."""
    return {
        "sent_units": _sent_units(order),
        "channel": order.channel,
        "channel_order_id": order.channel_order_id,
        "status": order.status,
        "marketplace_status": order.marketplace_status,
        "raw": order.raw if isinstance(order.raw, dict) else None,
        "lines": [
            {"line_id": i.channel_line_id, "sku": i.sku, "quantity": i.quantity}
            for i in order.items
        ],
    }


def _rules_kwargs(account, connector) -> dict:
    rules = marketplace_rules.rules_for(account, connector)
    return {} if rules is None else {"rules": rules}


def validate_with_marketplace(order: Order, action_type: str, args: dict, lines, connector=None):
    """What the marketplace itself allows (its actions, arguments, valid values), asked of
    the connector when it offers ``validate_action``; a list of problems (none otherwise).
    ``args``: every argument the request will carry; ``lines``: those of a per-line action
    (none for the whole order). The rules come from :mod:`webapp.orders.marketplace_rules`."""
    account = order_account(order)
    connector = connector or connector_for(account)
    validate = getattr(connector, "validate_action", None)
    if validate is None:
        return []
    kwargs = _rules_kwargs(account, connector)
    return list(validate(_order_view(order), action_type, dict(args), list(lines), **kwargs) or [])


def resolve_with_marketplace(
    order: Order, action_type: str, args: dict, lines, connector=None
) -> tuple[list[str], list[dict] | None]:
    """The problems (as :func:`validate_with_marketplace`) and the arguments each request
    carries as the marketplace's rules resolve them (``resolve_action``: its defaults, only
    the arguments it knows for the action, ``depends_on`` applied, typed values formatted),
    one per line of ``lines`` (one for the whole order without lines). None for the requests:
    the connector has no rules, the arguments are sent as given."""
    account = order_account(order)
    connector = connector or connector_for(account)
    hook = getattr(connector, "resolve_action", None)
    if hook is None:
        return validate_with_marketplace(order, action_type, args, lines, connector), None
    kwargs = _rules_kwargs(account, connector)
    problems, requests = hook(_order_view(order), action_type, dict(args), list(lines), **kwargs)
    problems = list(problems or [])
    return problems, (None if problems else [dict(r) for r in requests])


def order_account(order: Order):
    from webapp.models import Account

    return db.session.get(Account, order.account_id)


# -- recording --------------------------------------------------------------------------------


def record_shipment(
    order: Order,
    carrier: str | None,
    carrier_name: str | None,
    tracking_number: str | None,
    tracking_url: str | None,
    lines=None,
    args: dict | None = None,
    *,
    by: str = "system",
) -> Recorded:
    """Record a shipment of ``order`` (``lines``: [(REF, quantity or None)], None for what
    remains of the whole order) and the ship action(s) that tell the marketplace."""
    args = dict(args or {})
    tracking_number = (tracking_number or "").strip() or None
    tracking_url = (tracking_url or "").strip() or None
    carrier = (carrier or "").strip() or None
    key = tracking_number or tracking_url
    if key is None:
        raise Refused(["A shipment needs a tracking number or a tracking URL."])
    existing = _shipment(order.id, key)
    if existing is not None:
        return _same_shipment(order, existing, lines)
    account = order_account(order)
    connector = connector_for(account)
    problems: list[str] = []
    _check_action(order, connector, F.SHIP, args, problems)
    chosen = _resolve(order, F.SHIP, lines, problems)
    carrier_name = (carrier_name or "").strip() or None
    requests = None
    if not problems:
        sent = {**args, "carrier": carrier, "tracking_number": tracking_number}
        sent.update(
            tracking_url=tracking_url, carrier_name=carrier_name or args.get("carrier_name")
        )
        sent = {k: v for k, v in sent.items() if v}
        per_line = _lines(chosen) if lines is not None else []
        found, requests = resolve_with_marketplace(order, F.SHIP, sent, per_line, connector)
        problems += found
    if problems:
        # A request racing us may have recorded this very shipment between our look-up and
        # our reading of the lines (what it shipped is then "nothing left"): it is the same
        # shipment, not a refusal.
        racing = _shipment(order.id, key)
        if racing is not None:
            return _same_shipment(order, racing, lines)
        raise Refused(problems)
    now = utcnow()
    shipment = F.Shipment(
        order_id=order.id,
        carrier=carrier,
        carrier_name=carrier_name,
        tracking_number=tracking_number,
        tracking_url=tracking_url,
        tracking_key=key,
        shipped_at=now,
        created_by=by,
        lines=[F.ShipmentLine(order_item_id=i.id, quantity=q) for i, q in chosen],
    )
    db.session.add(shipment)
    try:
        db.session.flush()
    except IntegrityError:  # the same shipment recorded by a request that raced us
        db.session.rollback()
        return _same_shipment(order, _shipment(order.id, key), lines)
    tracking = {
        "carrier": carrier,
        "tracking_number": tracking_number,
        "tracking_url": tracking_url,
    }
    params = {k: v for k, v in tracking.items() if v}
    return _write(
        order,
        account,
        connector,
        F.SHIP,
        chosen,
        lines is not None,
        args,
        params,
        by,
        now,
        shipment=shipment,
        requests=requests,
    )


def record_action(
    order: Order, action_type: str, lines=None, args: dict | None = None, *, by="system"
):
    """Record an order action other than ship (accept, refuse, cancel, partial_cancel, refund
    or another type the marketplace offers) and the outbound call(s) that send it."""
    action_type = action_type.strip().lower().replace("-", "_").replace(" ", "_")
    if action_type == F.SHIP:
        raise Refused(["A ship action is recorded with its shipment (flask orders ship)."])
    args = dict(args or {})
    account = order_account(order)
    connector = connector_for(account)
    problems: list[str] = []
    _check_action(order, connector, action_type, args, problems)
    chosen = _resolve(order, action_type, lines, problems)
    if not problems and lines is None:
        previous = _whole_order_action(order, action_type)
        if previous is not None and previous.state != F.FAILED:
            problems.append(
                f"Order #{order.id} already has a {action_type} action (#{previous.id}, "
                f"{previous.state})."
            )
    requests = None
    if not problems:
        per_line = _lines(chosen) if lines is not None else []
        found, requests = resolve_with_marketplace(order, action_type, args, per_line, connector)
        problems += found
    if problems:
        raise Refused(problems)
    return _write(
        order,
        account,
        connector,
        action_type,
        chosen,
        lines is not None,
        args,
        {},
        by,
        utcnow(),
        requests=requests,
    )


def _lines(chosen) -> list[dict]:
    return [
        {"item_id": i.id, "line_id": i.channel_line_id, "sku": i.sku, "quantity": q}
        for i, q in chosen
    ]


def _shipment(order_id: int, key: str) -> F.Shipment | None:
    return db.session.scalar(
        select(F.Shipment).where(F.Shipment.order_id == order_id, F.Shipment.tracking_key == key)
    )


def _whole_order_action(order: Order, action_type: str) -> F.OrderAction | None:
    return db.session.scalar(
        select(F.OrderAction)
        .where(
            F.OrderAction.order_id == order.id,
            F.OrderAction.type == action_type,
            F.OrderAction.shipment_id.is_(None),
        )
        .order_by(F.OrderAction.id.desc())
        .limit(1)
    )


def _same_shipment(order: Order, shipment: F.Shipment, lines) -> Recorded:
    """The tracking was recorded before: the same shipment (nothing new) when the lines agree,
    a refusal when they differ."""
    actions = list(
        db.session.scalars(
            select(F.OrderAction)
            .where(F.OrderAction.shipment_id == shipment.id)
            .order_by(F.OrderAction.id)
        )
    )
    if lines is not None:
        asked, problems = [], []
        for ref, quantity in lines:
            item = _find_line(order, str(ref).strip(), problems)
            if item is not None:
                asked.append((item.id, quantity))
        shipped = {line.order_item_id: line.quantity for line in shipment.lines}
        same = (
            not problems
            and len(asked) == len(shipped)
            and all(
                item_id in shipped and quantity in (None, shipped[item_id])
                for item_id, quantity in asked
            )
        )
        if not same:
            raise Refused(
                [
                    f"Order #{order.id} already has shipment #{shipment.id} with tracking "
                    f"{shipment.tracking_key} for other lines; another parcel needs its own "
                    "tracking number."
                ]
            )
    return Recorded(actions, shipment, already=True)


def _write(
    order,
    account,
    connector,
    action_type,
    chosen,
    per_line,
    args,
    params,
    by,
    now,
    *,
    shipment=None,
    requests=None,
):
    """One transaction: the action(s), quantities, events, status and outbound calls.

    ``requests``: the arguments of each action's request as the marketplace's rules resolved
    them (one per action, in order); None: ``args`` and ``params`` as given."""
    actions = []
    groups = [[pair] for pair in chosen] if per_line else [chosen]
    for group in groups:
        action = F.OrderAction(
            store_id=order.store_id,
            order_id=order.id,
            account_id=account.id,
            type=action_type,
            lines=_lines(group),
            arguments=args,
            state=F.RECORDED,
            shipment_id=shipment.id if shipment is not None else None,
            created_by=by,
            created_at=now,
            updated_at=now,
        )
        db.session.add(action)
        actions.append(action)
    db.session.flush()
    try:
        _move_quantities(order, action_type, chosen, actions, per_line, now)
    except Refused:
        db.session.rollback()
        raise
    base = {"channel": order.channel, "channel_order_id": order.channel_order_id, **args, **params}
    rows, keys = [], []
    previous = (
        None if per_line or shipment is not None else _last_failed(order, action_type, actions)
    )
    for index, action in enumerate(actions):
        call_params = dict(base)
        if requests is not None:
            resolved = requests[index] if index < len(requests) else {}
            call_params = {**{k: base[k] for k in ("channel", "channel_order_id")}, **resolved}
        if per_line:
            call_params["line"] = action.lines[0]["line_id"]
        if shipment is not None:
            key = f"shipment:{shipment.id}" + (f":line:{call_params['line']}" if per_line else "")
        elif per_line:
            key = f"action:{action.id}"
        else:  # once per order, again only after the last one failed
            key = f"{action_type}:order:{order.id}:after:{previous or 0}"
        keys.append(key)
        rows.append(
            call_row(
                account,
                connector,
                outbound_action(action_type),
                call_params,
                "order_action",
                action.id,
                key,
            )
        )
    record(rows)
    for action, key in zip(actions, keys, strict=True):
        call = db.session.execute(
            select(OutboundCall.id, OutboundCall.subject_id, OutboundCall.status).where(
                OutboundCall.account_id == account.id,
                OutboundCall.action == outbound_action(action_type),
                OutboundCall.dedup_key == key,
            )
        ).one()
        if call.subject_id != action.id:  # another request owes it already
            db.session.rollback()
            raise Conflict([f"Order #{order.id}: this {action_type} is already recorded."])
        action.outbound_call_id = call.id
        action.state = F.DRY_RUN if call.status == DRY_RUN else F.RECORDED
    _follow_status(order, action_type, actions, shipment, by, now)
    follow_fulfilment(order, actor=by)  # the stock consumes the events and refunds, once
    db.session.commit()
    return Recorded(actions, shipment)


def _last_failed(order, action_type, actions) -> int | None:
    ours = [a.id for a in actions]
    return db.session.scalar(
        select(F.OrderAction.id)
        .where(
            F.OrderAction.order_id == order.id,
            F.OrderAction.type == action_type,
            F.OrderAction.state == F.FAILED,
            F.OrderAction.id.not_in(ours),
        )
        .order_by(F.OrderAction.id.desc())
        .limit(1)
    )


def _move_quantities(order, action_type, chosen, actions, per_line, now) -> None:
    column = {F.SHIP: "shipped_quantity", F.REFUND: "refunded_quantity"}.get(action_type)
    if column is None and action_type in CANCELLING:
        column = "cancelled_quantity"
    if column is None:
        return
    owner = {}
    for index, (item, _) in enumerate(chosen):
        owner[item.id] = actions[index if per_line else 0].id
    events = []
    for item, quantity in chosen:
        if action_type == F.REFUND:
            fits = ITEMS.c.refunded_quantity + quantity <= ITEMS.c.quantity
        else:
            fits = (
                ITEMS.c.shipped_quantity + ITEMS.c.cancelled_quantity + quantity <= ITEMS.c.quantity
            )
        moved = db.session.execute(
            update(ITEMS)
            .where(ITEMS.c.id == item.id, fits)
            .values({column: ITEMS.c[column] + quantity})
        ).rowcount
        if moved != 1:
            raise Conflict(
                [f"Line {item.channel_line_id or item.sku} changed meanwhile: try again."]
            )
        if action_type != F.REFUND:
            kind = F.SHIPPED_EVENT if action_type == F.SHIP else F.CANCELLED_EVENT
            events.append(
                F.FulfilmentEvent(
                    order_item_id=item.id,
                    kind=kind,
                    quantity=quantity,
                    at=now,
                    order_action_id=owner[item.id],
                )
            )
    db.session.add_all(events)
    for item, _ in chosen:
        db.session.expire(item)


def _follow_status(order, action_type, actions, shipment, by, now) -> None:
    """The unified status after the action, with a history entry (carrying the tracking)."""
    items = db.session.scalars(select(OrderItem).where(OrderItem.order_id == order.id)).all()
    old = order.status
    new = old
    settled = all(i.shipped_quantity + i.cancelled_quantity >= i.quantity for i in items)
    if action_type == F.REFUND:
        refunded = all(i.refunded_quantity >= i.quantity for i in items)
        new = O.REFUNDED if refunded else O.PARTIALLY_REFUNDED
    elif action_type == F.ACCEPT and old in (O.PENDING, O.AWAITING_ACCEPTANCE):
        new = O.CONFIRMED
    elif settled and items and action_type in (F.SHIP, *CANCELLING):
        new = O.CANCELLED if not any(i.shipped_quantity for i in items) else O.SHIPPED
    if shipment is not None:
        count = sum(line.quantity for line in shipment.lines)
        said = shipment.carrier_name or shipment.carrier or "no carrier named"
        tracking = ", ".join(t for t in (shipment.tracking_number, shipment.tracking_url) if t)
        reason = (
            f"Shipped {count} item(s) with {said}, tracking {tracking} (shipment #{shipment.id})."
        )
    else:
        ids = ", ".join(f"#{a.id}" for a in actions)
        reason = f"{action_type} recorded (action {ids})."
    if new == old and shipment is None:
        return
    order.status = new
    order.updated_at = now
    db.session.add(
        OrderStatusHistory(
            order_id=order.id,
            from_status=old,
            to_status=new,
            from_marketplace_status=order.marketplace_status,
            to_marketplace_status=order.marketplace_status,
            changed_by=by,
            reason=reason,
            created_at=now,
        )
    )

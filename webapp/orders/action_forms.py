"""What may be done with one order now, as form descriptions any front end can render.

:func:`forms_for` answers, for an order, each action the account's connector can send
(:data:`webapp.orders.fulfilment.CAPABILITIES`) and, where the connector has marketplace rules
(Lengow: :mod:`webapp.orders.marketplace_rules`), that the order's marketplace offers: whether
it is offered in the order's current status (and why not), and the fields its arguments need
(type, required or when, valid values as choices, free text allowed or not, the default
prefilled). A connector without rules (Letzshop) gets its own fixed fields: the ship form's
carrier, tracking and lines, and the buttons.

The shape is connector-agnostic (:meth:`Forms.as_dict` is plain JSON) so that the order page,
the API and the CLI helpers describe the same thing. :func:`submitted` reads a posted form
back into what :func:`webapp.orders.fulfilment.record_shipment` / ``record_action`` take; the
validation itself stays there (one message per problem).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.exceptions import RedisError

from connectors.errors import ConnectorError
from webapp.connector import connector_for
from webapp.models import Order, OrderItem
from webapp.models import fulfilment as F
from webapp.models import orders as O
from webapp.orders import marketplace_rules
from webapp.orders.fulfilment import (
    CANCELLING,
    CAPABILITIES,
    CLOSED,
    DONE,
    outbound_action,
    remaining,
)

__all__ = [
    "ActionForm",
    "FieldSpec",
    "Forms",
    "describe",
    "forms_for",
    "line_default",
    "line_field",
    "open_lines",
    "submitted",
]

log = logging.getLogger("mercato.orders")

# The actions the page offers, in the order it shows them.
SHOWN = (F.SHIP, F.ACCEPT, F.REFUSE, F.CANCEL, F.REFUND)
LABELS = {
    F.SHIP: "Ship",
    F.ACCEPT: "Accept",
    F.REFUSE: "Refuse",
    F.CANCEL: "Cancel",
    F.REFUND: "Refund",
}
# The ship form's own inputs (not marketplace arguments: the shipment carries them).
SHIP_INPUTS = frozenset({"carrier", "carrier_name", "tracking_number", "tracking_url"})
LINE_ARG = "line"
ARG_PREFIX = "arg__"
LINE_PREFIX = "qty__"
AWAITING = (O.PENDING, O.AWAITING_ACCEPTANCE)
REFUNDABLE = (O.SHIPPED, O.DELIVERED, O.FULFILLED, O.PARTIALLY_REFUNDED)
# Argument types as input kinds.
KINDS = {"date": "date", "price": "price", "quantity": "quantity"}


@dataclass
class FieldSpec:
    """One input: ``kind`` is text, select, date, price or quantity; a select with ``free``
    also takes a value outside its choices."""

    name: str
    label: str
    kind: str = "text"
    required: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)  # (code, label)
    free: bool = True
    default: str | None = None
    # When a conditional argument applies ("carrier equals 'Other'"): it is then required.
    when: str | None = None

    @property
    def input_name(self) -> str:
        return ARG_PREFIX + self.name


@dataclass
class ActionForm:
    type: str
    label: str
    offered: bool
    why_not: str | None = None
    # The marketplace's arguments (other than the ship form's own inputs and the line).
    fields: list[FieldSpec] = field(default_factory=list)
    carrier: FieldSpec | None = None  # ship: the carrier code
    # ship: the marketplace takes a free-text carrier name (and when).
    carrier_name: FieldSpec | None = None
    per_line: bool = False  # the marketplace takes the action line by line
    line_required: bool = False  # ... and only line by line (Amazon's refund, Menlook's ship)
    # The marketplace's conditions of conditional arguments (connector objects with
    # ``holds(action_data, order)``); not part of the plain description.
    conditions: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Forms:
    order_id: int
    actions: dict[str, ActionForm]
    source: str  # "marketplace": from the marketplace's rules; "connector": fixed fields
    marketplace: str | None = None  # the marketplace's name, with rules
    status: str | None = None  # the status the marketplace judges the order by
    note: str | None = None  # why the rules could not be read, when they could not

    def get(self, action_type: str) -> ActionForm | None:
        return self.actions.get(action_type)

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "source": self.source,
            "marketplace": self.marketplace,
            "status": self.status,
            "note": self.note,
            "actions": [
                {k: v for k, v in asdict(form).items() if k != "conditions"}
                for form in self.actions.values()
            ],
        }


def line_field(item: OrderItem) -> str:
    return f"{LINE_PREFIX}{item.id}"


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _field(spec, required: bool) -> FieldSpec:
    choices = list(spec.valid_values.items())
    kind = "select" if choices else KINDS.get(spec.type, "text")
    default = spec.default
    return FieldSpec(
        name=spec.name,
        label=_label(spec.name),
        kind=kind,
        required=required and spec.depends_on is None,
        choices=choices,
        free=spec.accept_free_values,
        default=None if default is None else str(default),
        when=spec.depends_on.describe() if spec.depends_on is not None else None,
    )


def _supported(connector) -> list[str]:
    out = []
    for action_type in SHOWN:
        capability = CAPABILITIES[action_type]
        if not connector.supports(capability):
            continue
        if outbound_action(action_type) not in connector.outbound_actions:
            continue
        out.append(action_type)
    return out


def _open_to_ship(order: Order) -> int:
    return sum(max(0, remaining(i, F.SHIP)) for i in order.items)


def _ours(order: Order, action_type: str) -> str | None:
    """Why Mercato itself would refuse the action now (None: it would not)."""
    if action_type != F.REFUND and order.status in CLOSED:
        return f"the order is {order.status.replace('_', ' ')}"
    if action_type in (F.ACCEPT, F.REFUSE) and order.status in DONE:
        return f"the order is already {order.status.replace('_', ' ')}"
    if action_type == F.SHIP and not _open_to_ship(order):
        return "every line is shipped or cancelled"
    if action_type == F.REFUND and all(i.refunded_quantity >= i.quantity for i in order.items):
        return "every line is refunded"
    return None


def _fixed(order: Order, action_type: str) -> ActionForm:
    """A connector without marketplace rules: carrier and tracking as free text, the buttons
    by the order's unified status."""
    why = _ours(order, action_type)
    if why is None:
        if action_type in (F.ACCEPT, F.REFUSE) and order.status not in AWAITING:
            why = "only an order awaiting acceptance can be accepted or refused"
        elif action_type == F.SHIP and order.status in AWAITING:
            why = "accept the order first"
        elif action_type == F.REFUND and order.status not in REFUNDABLE:
            why = "only a shipped order can be refunded"
    form = ActionForm(action_type, LABELS[action_type], offered=why is None, why_not=why)
    if action_type == F.SHIP:
        form.carrier = FieldSpec("carrier", "Carrier", required=False)
        form.per_line = True  # a partial shipment names its lines
    return form


def describe(order: Order, action_type: str, rule, market, status: str) -> ActionForm:
    why = _ours(order, action_type)
    if why is None and not rule.offered_in(status):
        where = ", ".join(rule.statuses) or "no status"
        why = f"{market.name} takes it only for orders in {where} (this one: {status})"
    form = ActionForm(
        action_type,
        LABELS[action_type],
        offered=why is None,
        why_not=why,
        per_line=rule.takes(LINE_ARG),
        line_required=LINE_ARG in rule.required,
    )
    for name in (*rule.required, *rule.optional):
        if name == LINE_ARG:
            continue
        spec = rule.args[name]
        if spec.depends_on is not None:
            form.conditions[name] = spec.depends_on
        if action_type == F.SHIP and name in SHIP_INPUTS:
            if name == "carrier":
                form.carrier = _field(spec, name in rule.required)
                form.carrier.label = "Carrier"
            elif name == "carrier_name":
                form.carrier_name = _field(spec, name in rule.required)
            continue
        form.fields.append(_field(spec, name in rule.required))
    if action_type == F.SHIP and form.carrier is None:
        carriers = list(market.carriers.items())
        form.carrier = FieldSpec(
            "carrier", "Carrier", kind="select" if carriers else "text", choices=carriers
        )
    return form


def _view(order: Order) -> dict[str, Any]:
    return {
        "channel": order.channel,
        "channel_order_id": order.channel_order_id,
        "status": order.status,
        "marketplace_status": order.marketplace_status,
    }


def forms_for(order: Order, account, connector=None) -> Forms:
    """Every action the page may offer for ``order`` (of ``account``), offered now or not."""
    connector = connector or connector_for(account)
    types = _supported(connector)
    rules, note = None, None
    if hasattr(connector, "fetch_marketplaces_payload"):
        try:
            rules = marketplace_rules.rules_for(account, connector)
        except (ConnectorError, RedisError, ValueError) as exc:
            log.warning("marketplace rules of account %s unavailable: %s", account.id, exc)
            note = f"The marketplace's rules could not be read ({exc}); try again later."
    if rules is None:
        actions = {t: _fixed(order, t) for t in types}
        if note is not None:  # no rules to judge by: nothing is offered until they come back
            for form in actions.values():
                form.offered, form.why_not = False, "the marketplace's rules are unavailable"
        return Forms(order.id, actions, "connector", note=note)
    market = rules.get(order.channel)
    if market is None:
        note = f"The account has no marketplace {order.channel!r} in its rules."
        actions = {
            t: ActionForm(t, LABELS[t], offered=False, why_not=note.rstrip(".")) for t in types
        }
        return Forms(order.id, actions, "marketplace", note=note)
    status_of = getattr(connector, "rules_status", None)
    status = status_of(rules, _view(order)) if status_of else (order.marketplace_status or "")
    status = market.lengow_status(status)  # a marketplace's own status, as the rules name it
    actions = {
        t: describe(order, t, market.actions[t], market, status)
        for t in types
        if t in market.actions
    }
    return Forms(order.id, actions, "marketplace", marketplace=market.name, status=status)


# -- reading a posted form back ---------------------------------------------------------------


@dataclass
class Submitted:
    """A posted form as the recording functions take it, and what it cannot be (problems
    of the form itself, before anything is asked of the order)."""

    args: dict[str, str]
    lines: list[tuple[str, int]] | None
    values: dict[str, str]  # every posted value, to fill the form again
    problems: list[str] = field(default_factory=list)
    carrier: str | None = None
    carrier_name: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None


def _text(data: Mapping[str, str], name: str) -> str | None:
    value = (data.get(name) or "").strip()
    return value or None


def submitted(order: Order, form: ActionForm, data: Mapping[str, str]) -> Submitted:
    """``data`` (the posted form) for ``form``: its arguments (empty ones left out), the
    shipment's own inputs, and the lines (:func:`_read_lines`)."""
    values = {k: str(v) for k, v in data.items() if k != "csrf_token"}
    args = {}
    for spec in form.fields:
        value = _text(data, spec.input_name)
        if value is not None:
            args[spec.name] = value
    out = Submitted(args=args, lines=None, values=values)
    if form.type != F.SHIP:
        _drop_inapplicable(form, out)
        _read_lines(order, form, data, out)
        return out
    out.carrier = _text(data, "carrier")
    out.carrier_name = _text(data, "carrier_name")
    out.tracking_number = _text(data, "tracking_number")
    out.tracking_url = _text(data, "tracking_url")
    if form.carrier_name is not None and out.carrier_name is not None:
        # The marketplace's own argument too (where its condition holds: below).
        out.args["carrier_name"] = out.carrier_name
    _drop_inapplicable(form, out)
    _read_lines(order, form, data, out)
    return out


def open_lines(order: Order, action_type: str) -> list[tuple[OrderItem, int]]:
    """The order's lines an action of this type can still take, with how many units."""
    counts = action_type in (F.SHIP, F.REFUND, *CANCELLING)
    pairs = [(i, remaining(i, action_type) if counts else i.quantity) for i in order.items]
    return [(i, left) for i, left in pairs if left > 0]


def line_default(form: ActionForm, left: int) -> int | str:
    """What a line's quantity input of ``form`` starts with: everything for a shipment or a
    line-by-line action, nothing (the whole order) otherwise."""
    return left if form.type == F.SHIP or form.line_required else ""


def _read_lines(order: Order, form: ActionForm, data: Mapping[str, str], out: Submitted) -> None:
    """The lines of the posted form: None (the whole order) when every open line is taken in
    full, or no line is named where that is allowed; otherwise [(line id or SKU, quantity)]."""
    lines = open_lines(order, form.type)
    posted = form.per_line and any(key.startswith(LINE_PREFIX) for key in data)
    if not posted:
        if form.line_required:  # line by line only: every open line, in full
            out.lines = [(_ref(i), left) for i, left in lines]
        return
    chosen, whole = [], True
    for item, left in lines:
        raw = (data.get(line_field(item)) or "").strip()
        name = item.sku or item.channel_line_id or f"#{item.id}"
        try:
            quantity = int(raw) if raw else 0
        except ValueError:
            out.problems.append(f"Line {name}: the quantity {raw!r} is not a whole number.")
            continue
        if quantity < 0:
            out.problems.append(f"Line {name}: the quantity cannot be below 0 (got {quantity}).")
            continue
        if quantity != left:
            whole = False
        if quantity > 0:
            chosen.append((_ref(item), quantity))
    if out.problems:
        return
    if not chosen:
        if form.type == F.SHIP:
            out.problems.append("Choose at least one line to ship (a quantity above 0).")
        elif form.line_required:
            out.problems.append(
                f"Choose at least one line: {form.label.lower()} is taken line by line here."
            )
        return  # no line: the whole order
    out.lines = None if whole and not form.line_required else chosen


def _ref(item: OrderItem) -> str:
    return item.channel_line_id or item.sku or str(item.id)


def _drop_inapplicable(form: ActionForm, sub: Submitted) -> None:
    """A conditional argument whose condition does not hold is not sent (Amazon takes a
    carrier name only with the carrier "Other" and rejects it otherwise), as the marketplace
    rules read it (:mod:`connectors.lengow.rules`)."""
    data = {
        **sub.args,
        **{
            k: v
            for k, v in (("carrier", sub.carrier), ("tracking_number", sub.tracking_number))
            if v
        },
    }
    for name, condition in form.conditions.items():
        if name in sub.args and not condition.holds(data, None):
            del sub.args[name]

"""What each marketplace lets a merchant do with an order, read from ``GET /v3.0/marketplaces``.

Pure Python, no HTTP: :func:`parse_marketplaces` turns the payload (an object keyed by
marketplace code) into :class:`MarketplaceRules`; :func:`check` (and :func:`validate`, its
problems only) says whether an action with its arguments and lines may be recorded for an order
in a given status, with the defaults applied and one request per line; :func:`resolve` gives
those requests as they are sent (only the action's own arguments, typed values formatted).

The payload (CONNECTORS.md section 1, "Marketplace rules"): ``orders.actions.<type>`` is
``{status: [lengow statuses], args: [required], optional_args: [...], args_description:
{arg: {type, depends_on, valid_values, default_value, accept_free_values}}}``; ``depends_on`` is
``{operator|operation: allOf|anyOf|oneOf, conditions: [{key_path: {root: action_data|order,
path}, function, value}]}``. 2016 payloads have no ``args_description`` at all.

How the rules are read here:

- an argument with ``depends_on`` applies only when its condition holds; then it is required
  (even if listed in ``optional_args``: Amazon's ``carrier_name`` when ``carrier`` is
  ``Other``). When it does not hold, a value given for it is dropped, not sent (the Lengow
  plugin sends ``carrier_name`` only for ``Other``: Amazon rejects it otherwise);
- a default value fills a *required* argument left empty; optional arguments are sent only when
  given (the plugin does not send Amazon's imported defaults such as ``shipping_method``);
- a value outside ``valid_values`` is refused when ``accept_free_values`` is false; a value that
  is a label of the list (``Dislike`` for Zalando's ``1``) is replaced by its code;
- a partial action names lines: one request per line (CONNECTORS.md: "send one action per
  line"), with the quantity in the action's ``quantity`` argument when it has one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from connectors.lengow.unverified import (
    ANY_STATUS_WHEN_EMPTY,
    DEFAULT_OPERATOR,
    DEFAULTS_FOR_REQUIRED_ONLY,
    DEPENDS_ON_OPERATOR_KEYS,
    LEGACY_ACCEPT_FREE_VALUES,
    UNKNOWN_FUNCTION_HOLDS,
)

__all__ = [
    "ActionRule",
    "ArgSpec",
    "Checked",
    "Condition",
    "DependsOn",
    "MarketplaceRules",
    "Problem",
    "check",
    "parse_marketplaces",
    "resolve",
    "validate",
]

# The unverified points (CONNECTORS.md section 1) live in connectors/lengow/unverified.py.
# Argument types whose value is a number of units (cancel_quantity, refund_quantity). [C]
QUANTITY_TYPE = "quantity"
LINE_TYPE = "line_number"
LINE_ARG = "line"

LIST_SHOWN = 12  # valid values named in a problem before "and N more"


@dataclass(frozen=True)
class Problem:
    """Why an action cannot be recorded: the argument at fault (None for the action itself)."""

    arg: str | None
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Condition:
    root: str  # "action_data" or "order"
    path: str  # dotted, e.g. "order_meta.delivery_type"
    function: str
    value: Any

    def holds(self, action_data: Mapping[str, Any], order: Mapping[str, Any] | None) -> bool:
        source = action_data if self.root == "action_data" else (order or {})
        actual = _dig(source, self.path)
        test = FUNCTIONS.get(self.function)
        if test is None:
            return UNKNOWN_FUNCTION_HOLDS
        try:
            return bool(test(actual, self.value))
        except (TypeError, ValueError, InvalidOperation, re.error):
            return False

    def describe(self) -> str:
        words = self.function.replace("_", " ")
        return f"{self.path} {words} {self.value!r}"


@dataclass(frozen=True)
class DependsOn:
    operator: str  # allOf, anyOf, oneOf
    conditions: tuple[Condition, ...]

    def holds(self, action_data: Mapping[str, Any], order: Mapping[str, Any] | None) -> bool:
        results = [c.holds(action_data, order) for c in self.conditions]
        if not results:
            return True
        if self.operator == "anyOf":
            return any(results)
        if self.operator == "oneOf":
            return results.count(True) == 1
        return all(results)

    def describe(self) -> str:
        joiner = {"anyOf": " or ", "oneOf": " or (only one) "}.get(self.operator, " and ")
        return joiner.join(c.describe() for c in self.conditions)


@dataclass(frozen=True)
class ArgSpec:
    name: str
    type: str = "string"
    depends_on: DependsOn | None = None
    valid_values: Mapping[str, str] = field(default_factory=dict)  # code -> label
    default_value: Any = None
    accept_free_values: bool = True

    @property
    def default(self) -> Any:
        """The default to fill in, or None ("" in real payloads means none)."""
        return None if self.default_value in (None, "") else self.default_value


@dataclass(frozen=True)
class ActionRule:
    type: str
    statuses: tuple[str, ...]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    args: Mapping[str, ArgSpec]

    def offered_in(self, status: str) -> bool:
        if not self.statuses:
            return ANY_STATUS_WHEN_EMPTY
        return status in self.statuses

    def takes(self, arg: str) -> bool:
        return arg in self.required or arg in self.optional

    @property
    def quantity_arg(self) -> str | None:
        for name in (*self.required, *self.optional):
            if self.args[name].type == QUANTITY_TYPE:
                return name
        return None


@dataclass(frozen=True)
class MarketplaceRules:
    code: str
    name: str
    carriers: Mapping[str, str]  # code -> label
    statuses: Mapping[str, tuple[str, ...]]  # lengow status -> marketplace statuses
    actions: Mapping[str, ActionRule]

    def lengow_status(self, status: str) -> str:
        """``status`` as a Lengow status (a marketplace status is looked up in the map)."""
        if status in self.statuses:
            return status
        for lengow, theirs in self.statuses.items():
            if status in theirs:
                return lengow
        return status

    def actions_in(self, status: str) -> list[str]:
        status = self.lengow_status(status)
        return [name for name, rule in self.actions.items() if rule.offered_in(status)]


# -- parsing ---------------------------------------------------------------------------------


def _dig(source: Any, path: str) -> Any:
    node = source
    for key in path.split(".") if path else []:
        if isinstance(node, Mapping):
            node = node.get(key)
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def _labels(raw: Any) -> dict[str, str]:
    """valid_values / carriers as code -> label: ``{code: {label}}``, ``{code: label}`` or a
    list of codes."""
    if isinstance(raw, Mapping):
        out = {}
        for code, entry in raw.items():
            if isinstance(entry, Mapping):
                out[str(code)] = str(entry.get("label") or code)
            else:
                out[str(code)] = str(entry if entry not in (None, "") else code)
        return out
    if isinstance(raw, list):
        return {str(v): str(v) for v in raw if v is not None}
    return {}


def _depends_on(raw: Any) -> DependsOn | None:
    if not isinstance(raw, Mapping):
        return None
    operator = next(
        (raw[k] for k in DEPENDS_ON_OPERATOR_KEYS if isinstance(raw.get(k), str)),
        DEFAULT_OPERATOR,
    )
    conditions = []
    for cond in raw.get("conditions") or []:
        if not isinstance(cond, Mapping):
            continue
        key_path = cond.get("key_path") or {}
        if isinstance(key_path, str):
            key_path = {"root": "action_data", "path": key_path}
        conditions.append(
            Condition(
                root=str(key_path.get("root") or "action_data"),
                path=str(key_path.get("path") or ""),
                function=str(cond.get("function") or "equals"),
                value=cond.get("value"),
            )
        )
    return DependsOn(operator=operator, conditions=tuple(conditions))


def _action(name: str, raw: Mapping[str, Any], carriers: Mapping[str, str]) -> ActionRule:
    required = tuple(str(a) for a in raw.get("args") or [])
    optional = tuple(str(a) for a in raw.get("optional_args") or [] if a not in required)
    described = raw.get("args_description")
    specs: dict[str, ArgSpec] = {}
    for arg in (*required, *optional):
        desc = described.get(arg) if isinstance(described, Mapping) else None
        if isinstance(desc, Mapping):
            specs[arg] = ArgSpec(
                name=arg,
                type=str(desc.get("type") or "string"),
                depends_on=_depends_on(desc.get("depends_on")),
                valid_values=_labels(desc.get("valid_values")),
                default_value=desc.get("default_value"),
                accept_free_values=desc.get("accept_free_values") is not False,
            )
        elif arg == "carrier" and carriers:
            specs[arg] = ArgSpec(
                name=arg,
                type="list",
                valid_values=dict(carriers),
                accept_free_values=LEGACY_ACCEPT_FREE_VALUES,
            )
        else:
            specs[arg] = ArgSpec(name=arg, type=LINE_TYPE if arg == LINE_ARG else "string")
    statuses = tuple(str(s) for s in raw.get("status") or [])
    return ActionRule(name, statuses, required, optional, MappingProxyType(specs))


def parse_marketplaces(payload: Mapping[str, Any]) -> dict[str, MarketplaceRules]:
    """Every marketplace of a ``GET /v3.0/marketplaces`` payload, by code."""
    if not isinstance(payload, Mapping):
        raise ValueError("a marketplaces payload is an object keyed by marketplace code")
    out = {}
    for code, entry in payload.items():
        if not isinstance(entry, Mapping):
            continue
        orders = entry.get("orders") or {}
        carriers = _labels(orders.get("carriers"))
        statuses = {
            str(k): tuple(str(s) for s in (v if isinstance(v, list) else [v]))
            for k, v in (orders.get("status") or {}).items()
        }
        actions = {
            str(name): _action(str(name), spec, carriers)
            for name, spec in (orders.get("actions") or {}).items()
            if isinstance(spec, Mapping)
        }
        out[str(code)] = MarketplaceRules(
            code=str(code),
            name=str(entry.get("name") or code),
            carriers=MappingProxyType(carriers),
            statuses=MappingProxyType(statuses),
            actions=MappingProxyType(actions),
        )
    return out


# -- depends_on functions --------------------------------------------------------------------


def _number(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError("not a number")
    return Decimal(str(value).strip())


def _same(a: Any, b: Any) -> bool:
    if a == b:
        return True
    return a is not None and b is not None and str(a) == str(b)


def _in_list(a: Any, values: Any) -> bool:
    return any(_same(a, v) for v in (values if isinstance(values, list | tuple) else [values]))


def _contains(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple):
        return _in_list(b, a)
    return a is not None and str(b) in str(a)


FUNCTIONS = {
    "equals": _same,
    "not_equals": lambda a, b: not _same(a, b),
    "in_list": _in_list,
    "not_in_list": lambda a, b: not _in_list(a, b),
    "lower_than": lambda a, b: _number(a) < _number(b),
    "lower_than_or_equals": lambda a, b: _number(a) <= _number(b),
    "greater_than": lambda a, b: _number(a) > _number(b),
    "greater_than_or_equals": lambda a, b: _number(a) >= _number(b),
    "regex": lambda a, b: a is not None and re.search(str(b), str(a)) is not None,
    "contains": _contains,
}


# -- validation ------------------------------------------------------------------------------


@dataclass
class Checked:
    """The outcome of :func:`check`: the problems (none: the action may be recorded), the
    arguments to send (defaults applied, inapplicable ones dropped) and one argument set per
    request (one per line for a partial action)."""

    problems: list[Problem]
    args: dict[str, Any]
    requests: list[dict[str, Any]]
    dropped: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _pairs(lines: Any) -> list[tuple[str, int | None]]:
    if lines is None:
        return []
    items = lines.items() if isinstance(lines, Mapping) else lines
    out = []
    for item in items:
        if isinstance(item, tuple | list):
            ref, qty = item[0], (item[1] if len(item) > 1 else None)
        else:
            ref, qty = item, None
        out.append((str(ref), qty))
    return out


def _listing(values: Mapping[str, str]) -> str:
    shown = [code if label == code else f"{code} ({label})" for code, label in values.items()]
    more = len(shown) - LIST_SHOWN
    text = ", ".join(shown[:LIST_SHOWN])
    return f"{text} and {more} more" if more > 0 else text


def _type_problem(spec: ArgSpec, value: Any) -> str | None:
    kind = spec.type
    text = str(value).strip()
    if kind == "date":
        try:
            if len(text) == 10:
                date.fromisoformat(text)
            else:
                datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return f"{spec.name} must be a date (YYYY-MM-DD or ISO 8601), not {value!r}"
    elif kind == "price":
        try:
            amount = _number(value)
        except (ValueError, InvalidOperation):
            return f"{spec.name} must be an amount such as 12.50, not {value!r}"
        if not amount.is_finite() or amount < 0:
            return f"{spec.name} must be an amount of 0 or more, not {value!r}"
    elif kind == QUANTITY_TYPE:
        try:
            qty = _number(value)
        except (ValueError, InvalidOperation):
            return f"{spec.name} must be a whole number of units, not {value!r}"
        if not qty.is_finite() or qty != qty.to_integral_value() or qty < 1:
            return f"{spec.name} must be a whole number of units (1 or more), not {value!r}"
    return None


def _choice(spec: ArgSpec, value: Any) -> tuple[Any, str | None]:
    """The value as a code of ``valid_values`` (a label is mapped), or a problem."""
    if not spec.valid_values:
        return value, None
    text = str(value)
    if text in spec.valid_values:
        return text, None
    for code, label in spec.valid_values.items():
        if label.casefold() == text.strip().casefold() or code.casefold() == text.casefold():
            return code, None
    if spec.accept_free_values:
        return value, None
    return value, (
        f"{spec.name} {value!r} is not allowed: choose one of {_listing(spec.valid_values)}"
    )


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check(
    rules: Mapping[str, MarketplaceRules],
    marketplace: str,
    action_type: str,
    order_status: str,
    args: Mapping[str, Any] | None = None,
    lines: Any = None,
    order_lines: Any = None,
    *,
    order: Mapping[str, Any] | None = None,
    soft: frozenset[str] | set[str] = frozenset(),
) -> Checked:
    """Whether ``action_type`` with ``args`` may be recorded for an order of ``marketplace`` in
    ``order_status`` (a Lengow status, or one of the marketplace's own).

    ``lines``: the order lines the action is for, ``{line_id: quantity or None}`` or pairs
    (None: the whole line); none means the whole order. ``order_lines``: what the order still
    has open for this action, ``{line_id: quantity}`` or pairs (a line id seen twice adds up);
    without it lines are not checked against the order. ``order``: the order as Lengow sends it,
    for ``depends_on`` conditions rooted at ``order``. ``soft``: arguments sent only when the
    action takes them (what Mercato knows of a shipment: a tracking URL, a carrier name), left
    out rather than refused when it does not."""
    given = {k: v for k, v in (args or {}).items() if not _empty(v)}
    problems: list[Problem] = []
    market = rules.get(marketplace)
    if market is None:
        known = ", ".join(sorted(rules)) or "none"
        msg = f"marketplace {marketplace!r} is not one of the account's ({known})"
        return Checked([Problem(None, msg)], dict(given), [])
    rule = market.actions.get(action_type)
    if rule is None:
        offered = ", ".join(market.actions) or "nothing"
        msg = f"{market.name} has no action {action_type!r}: it offers {offered}"
        return Checked([Problem(None, msg)], dict(given), [])
    status = market.lengow_status(order_status)
    if not rule.offered_in(status):
        where = ", ".join(rule.statuses) if rule.statuses else "no order status"
        now = market.actions_in(status)
        msg = (
            f"{market.name} does not take {action_type} for an order in status {order_status}: "
            f"only in {where}" + (f" (in {order_status}: {', '.join(now)})" if now else "")
        )
        problems.append(Problem(None, msg))

    # lines: from ``lines`` and a ``line`` argument given directly
    wanted = _pairs(lines)
    if LINE_ARG in given:
        ref = str(given.pop(LINE_ARG))
        if ref not in (r for r, _ in wanted):
            wanted.append((ref, None))
    if wanted and not rule.takes(LINE_ARG):
        problems.append(
            Problem(
                LINE_ARG,
                f"{market.name} takes {action_type} for the whole order only: it accepts no line",
            )
        )

    dropped: dict[str, Any] = {}
    for name in list(given):
        if name in soft and not rule.takes(name):
            dropped[name] = given.pop(name)
    for name in given:
        if not rule.takes(name):
            takes = ", ".join(a for a in (*rule.required, *rule.optional) if a != LINE_ARG)
            problems.append(
                Problem(
                    name,
                    f"{market.name} takes no argument {name!r} for {action_type}"
                    + (f" (it takes: {takes})" if takes else " (it takes none)"),
                )
            )

    resolved = {k: v for k, v in given.items() if rule.takes(k)}
    # defaults of the unconditional required arguments first: conditions may read them
    for name in rule.required:
        spec = rule.args[name]
        if name != LINE_ARG and spec.depends_on is None and name not in resolved:
            if spec.default is not None:
                resolved[name] = spec.default
    for name in (*rule.required, *rule.optional):
        if name == LINE_ARG:
            continue
        spec = rule.args[name]
        applies = spec.depends_on is None or spec.depends_on.holds(resolved, order)
        if not applies:
            if name in resolved:
                dropped[name] = resolved.pop(name)
            continue
        needed = name in rule.required or spec.depends_on is not None
        fill = needed or not DEFAULTS_FOR_REQUIRED_ONLY
        if name not in resolved and fill and spec.default is not None:
            resolved[name] = spec.default
        if name not in resolved:
            if needed and not (spec.type == QUANTITY_TYPE and wanted):
                why = f" (because {spec.depends_on.describe()})" if spec.depends_on else ""
                allowed = f": one of {_listing(spec.valid_values)}" if spec.valid_values else ""
                msg = f"{name} is required for {action_type} on {market.name}{why}{allowed}"
                problems.append(Problem(name, msg))
            continue
        value, problem = _choice(spec, resolved[name])
        resolved[name] = value
        problem = problem or _type_problem(spec, value)
        if problem:
            problems.append(Problem(name, problem))

    if LINE_ARG in rule.required and not wanted:
        problems.append(
            Problem(
                LINE_ARG,
                f"line is required for {action_type} on {market.name}: it takes it line by "
                "line, name the line(s) (the marketplace's line id)",
            )
        )

    # lines against the order
    open_qty: dict[str, int] | None = None
    if order_lines is not None:
        open_qty = {}
        for ref, qty in _pairs(order_lines):
            open_qty[ref] = open_qty.get(ref, 0) + int(qty or 0)
    qty_arg = rule.quantity_arg
    requests: list[dict[str, Any]] = []
    for ref, qty in wanted:
        if qty is not None:
            try:
                qty = int(qty)
            except (TypeError, ValueError):
                problems.append(Problem(LINE_ARG, f"line {ref}: quantity {qty!r} is not a number"))
                continue
            if qty < 1:
                problems.append(Problem(LINE_ARG, f"line {ref}: quantity must be 1 or more"))
                continue
        if open_qty is not None:
            if ref not in open_qty:
                have = ", ".join(open_qty) or "none"
                problems.append(
                    Problem(LINE_ARG, f"the order has no line {ref!r} (its lines: {have})")
                )
                continue
            available = open_qty[ref]
            if qty is not None and qty > available:
                problems.append(
                    Problem(
                        LINE_ARG,
                        f"line {ref}: {qty} asked but the order has {available} open "
                        f"for {action_type}",
                    )
                )
                continue
            if qty is not None and qty < available and qty_arg is None:
                problems.append(
                    Problem(
                        LINE_ARG,
                        f"line {ref}: {market.name} takes {action_type} for whole lines "
                        f"({available} units), not {qty} of them",
                    )
                )
                continue
        request = {**resolved, LINE_ARG: ref}
        if qty is None and open_qty is not None:
            qty = open_qty[ref]
        if qty_arg and qty is not None and qty_arg not in resolved:
            request[qty_arg] = qty
        requests.append(request)
    if not wanted:
        requests.append(dict(resolved))
    if problems:
        requests = []
    return Checked(problems, resolved, requests, dropped)


def validate(
    rules: Mapping[str, MarketplaceRules],
    marketplace: str,
    action_type: str,
    order_status: str,
    args: Mapping[str, Any] | None = None,
    lines: Any = None,
    order_lines: Any = None,
    *,
    order: Mapping[str, Any] | None = None,
) -> list[Problem]:
    """The problems of :func:`check` (an empty list: the action may be recorded)."""
    return check(
        rules,
        marketplace,
        action_type,
        order_status,
        args,
        lines,
        order_lines,
        order=order,
    ).problems


# -- the request as sent ---------------------------------------------------------------------


def _iso_date(value: Any) -> str:
    """A date argument as ISO 8601: ``YYYY-MM-DD`` for a day, UTC with ``Z`` for a moment."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value.isoformat()
    else:
        text = str(value).strip()
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"


def _json_number(value: Any) -> int | float:
    amount = _number(value)
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def formatted(spec: ArgSpec, value: Any) -> Any:
    """``value`` as the request carries it, by the argument's type: a date in ISO 8601, a
    quantity a whole number, a price a JSON number, a line id a string; a value that does not
    read as its type is left as given (:func:`check` names the problem)."""
    try:
        if spec.type == "date":
            return _iso_date(value)
        if spec.type == QUANTITY_TYPE:
            return int(_number(value))
        if spec.type == "price":
            return _json_number(value)
        if spec.type == LINE_TYPE:
            return str(value)
    except (TypeError, ValueError, InvalidOperation):
        return value
    return value


def resolve(
    rules: Mapping[str, MarketplaceRules],
    marketplace: str,
    action_type: str,
    order_status: str,
    args: Mapping[str, Any] | None = None,
    lines: Any = None,
    order_lines: Any = None,
    *,
    order: Mapping[str, Any] | None = None,
    soft: frozenset[str] | set[str] = frozenset(),
) -> Checked:
    """:func:`check`, with ``requests`` as they are sent: one argument set per request (per
    line for a partial action), holding only the arguments the marketplace knows for the
    action (plus ``line``), the defaults filled in, those ``depends_on`` rules out left out
    and each value in its type's format (:func:`formatted`). With problems, no request."""
    checked = check(
        rules,
        marketplace,
        action_type,
        order_status,
        args,
        lines,
        order_lines,
        order=order,
        soft=soft,
    )
    if not checked.ok:
        return checked
    rule = rules[marketplace].actions[action_type]

    def shaped(request: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for name, value in request.items():
            spec = rule.args.get(name)
            if spec is None and name != LINE_ARG:
                continue  # not an argument of this action: never sent
            out[name] = formatted(spec, value) if spec is not None else str(value)
        return out

    checked.args = shaped(checked.args)
    checked.requests = [shaped(r) for r in checked.requests]
    return checked

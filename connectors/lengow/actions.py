"""Lengow's order actions (``/v3.0/orders/actions/``) in Mercato's states, and how one is
recognised when its POST ended in doubt.

States (CONNECTORS.md section 1, "Action status"):

=======================================  ===========  ==========================================
Lengow                                   Mercato      why
=======================================  ===========  ==========================================
``queued: true``                         queued       still waiting or being retried by Lengow
``queued: false``, ``errors`` not empty  failed       final; the text is the marketplace's [V]
``queued: false``, ``processed: true``   processed    done [V]
``queued: false``, ``processed: false``  sent         handed over, the marketplace has not
                                                      answered yet (the plugin's reading) [C]
=======================================  ===========  ==========================================

The POST response is the action object itself; the real one says ``queued: false,
processed: false`` (``prestashop_action_ship_post_response.json``): "sent". The [C] reading
is in :mod:`connectors.lengow.unverified`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.capabilities import OrderActionStatus
from connectors.lengow.unverified import NOT_QUEUED_NOT_PROCESSED

__all__ = ["action_state", "action_status", "matches"]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value if v not in (None, ""))
    elif isinstance(value, Mapping):
        value = "; ".join(f"{k}: {v}" for k, v in value.items())
    text = str(value).strip()
    return text or None


def action_state(raw: Mapping[str, Any]) -> tuple[str, str | None]:
    """Mercato's state of one Lengow action object, and the marketplace's error when failed."""
    error = _text(raw.get("errors"))
    if raw.get("queued"):
        return "queued", None
    if error:
        return "failed", error
    if raw.get("processed"):
        return "processed", None
    return NOT_QUEUED_NOT_PROCESSED, None


def _str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def action_status(raw: Mapping[str, Any]) -> OrderActionStatus:
    state, error = action_state(raw)
    return OrderActionStatus(
        id=str(raw.get("id")),
        channel=str(raw.get("marketplace") or ""),
        channel_order_id=str(raw.get("marketplace_order_id") or ""),
        action_type=str(raw.get("action_type") or ""),
        state=state,
        error=error,
        line=_str(raw.get("line")),
        tracking_number=_str(raw.get("tracking_number")),
        carrier=_str(raw.get("carrier")),
        created_at=_str(raw.get("created_at")),
        updated_at=_str(raw.get("updated_at")),
        raw=dict(raw),
    )


def matches(
    raw: Mapping[str, Any],
    marketplace: str,
    marketplace_order_id: str,
    action_type: str,
    line: str | None = None,
    tracking_number: str | None = None,
) -> bool:
    """Whether ``raw`` is the action these describe: same order and type, and the same line
    and tracking number where they are given (an action for the whole order has no line)."""
    if str(raw.get("marketplace")) != marketplace:
        return False
    if str(raw.get("marketplace_order_id")) != str(marketplace_order_id):
        return False
    if raw.get("action_type") != action_type:
        return False
    if _str(raw.get("line")) != _str(line):
        return False
    return tracking_number is None or _str(raw.get("tracking_number")) == _str(tracking_number)

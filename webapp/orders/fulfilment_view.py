"""What the order page shows of an order's fulfilment, and what follows a recording there.

- :func:`fulfilment` : the order's lines with their quantities (shipped, cancelled, refunded,
  remaining), its shipments and its order actions with their states, the marketplace's error
  where one came back, and the exact request of each action (a dry run shows what it would
  send); ``in_flight`` says whether the live block must keep polling.
- :func:`send_soon` : after a recording in live mode, the account's shipping-confirmation feed
  is started now (it sends what is owed through the one sender, then follows the states);
  the sender's own wake-up when that feed cannot start. The one sender claims each call, so
  a second start never sends anything twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from connectors import registry as connectors_registry
from connectors.base import Capability
from webapp import outbound
from webapp.extensions import db
from webapp.models import Order, OrderAction, OutboundCall, Shipment
from webapp.models import fulfilment as F
from webapp.runs import lifecycle

log = logging.getLogger("mercato.orders")

SHIPPING_FEED = "shipping_confirmation"


@dataclass
class LineView:
    item: object
    quantity: int
    shipped: int
    cancelled: int
    refunded: int

    @property
    def remaining(self) -> int:
        return max(0, self.quantity - self.shipped - self.cancelled)


def safe_url(value: str | None) -> str | None:
    """A tracking URL fit to be a link (http or https only; anything else stays text)."""
    text = (value or "").strip()
    return text if text.lower().startswith(("https://", "http://")) else None


def fulfilment(order: Order, account) -> dict:
    """The context of the fulfilment block (``orders/_fulfilment.html``)."""
    lines = [
        LineView(
            item=i,
            quantity=i.quantity,
            shipped=i.shipped_quantity,
            cancelled=i.cancelled_quantity,
            refunded=i.refunded_quantity,
        )
        for i in order.items
    ]
    shipments = list(
        db.session.scalars(
            select(Shipment)
            .where(Shipment.order_id == order.id)
            .options(selectinload(Shipment.lines))
            .order_by(Shipment.id)
        )
    )
    actions = list(
        db.session.scalars(
            select(OrderAction).where(OrderAction.order_id == order.id).order_by(OrderAction.id)
        )
    )
    call_ids = [a.outbound_call_id for a in actions if a.outbound_call_id]
    calls = (
        {
            c.id: c
            for c in db.session.scalars(select(OutboundCall).where(OutboundCall.id.in_(call_ids)))
        }
        if call_ids
        else {}
    )
    secrets = outbound.readable_secrets(account) if account is not None and calls else {}
    requests = {
        a.id: outbound.shown_request(calls[a.outbound_call_id], secrets)
        for a in actions
        if a.outbound_call_id in calls
    }
    followed = following(account)
    tracks = account is not None and tracks_actions(account)
    moving = (F.RECORDED, F.SENT, F.QUEUED) if followed else (F.RECORDED,)
    return {
        "followed": followed,
        "tracks": tracks,
        "lines": lines,
        "items_by_id": {i.id: i for i in order.items},
        "shipments": shipments,
        "actions": actions,
        "action_requests": requests,
        # Poll while something will still move: a call the sender will send, and an action
        # at the marketplace whose state the shipping-confirmation feed reads back.
        "in_flight": any(a.state in moving for a in actions),
        "unfollowed": not followed and any(a.state in (F.SENT, F.QUEUED) for a in actions),
        "safe_url": safe_url,
    }


def tracks_actions(account) -> bool:
    """Whether the account's connector reads back the marketplace's states of actions."""
    return connectors_registry.get(account.connector).has(Capability.ORDER_ACTION_TRACKING)


def following(account) -> bool:
    """Whether the marketplace's answers to actions sent are read back for this account:
    its connector tracks order actions and its shipping-confirmation feed is on."""
    if account is None or not account.is_live or not tracks_actions(account):
        return False
    feed = lifecycle.account_feed(account, SHIPPING_FEED)
    return feed is not None and feed.enabled


def send_soon(account) -> str:
    """Have what the order page recorded sent within seconds (live accounts): start the
    account's shipping-confirmation feed, or wake the one sender where that feed cannot start
    (disabled, absent). Returns what was done, for a message."""
    feed = lifecycle.account_feed(account, SHIPPING_FEED)
    if feed is not None:
        try:
            started = lifecycle.start_feed(feed, "ui")
        except lifecycle.FeedError as exc:
            log.info(
                "shipping feed of account %s not started (%s): waking the sender", account.id, exc
            )
        else:
            if started.started:
                return "started"
            # Already running: it may have read what is owed before this was recorded.
    outbound.send_soon(account)
    return "sender"

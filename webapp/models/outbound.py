"""What Mercato sends to marketplaces, and when an account went live or back to test.

Every change Mercato makes on a marketplace (for now the merchant order id of an order;
later stock, prices, shipments, order actions) is first an ``outbound_calls`` row, written
in the transaction that makes it owed: the action, its subject, the parameters it is built
from, and the request exactly as it would go out (method, URL, body, secrets masked). A step
of its own then sends it (live account) or marks it a dry run (test mode), so nothing is lost
when a send fails and nothing is sent twice: one row per (account, action, dedup key), and a
row is claimed before it is sent.
"""

from __future__ import annotations

from connectors.base import ACK_ORDER
from webapp.extensions import db
from webapp.models.base import JSONType, TimestampMixin

# Outbound call statuses
PENDING = "pending"  # owed, to be sent by the next sweep
DRY_RUN = "dry_run"  # owed, recorded in test mode, not sent; going live sends it
SENDING = "sending"  # claimed by a sweep (a crashed sweep's claim is taken over later)
SENT = "sent"
FAILED = "failed"  # the last attempt failed; retried after next_attempt_at
# The last attempt may have been applied (a timeout or a 5xx after it left) and the marketplace
# cannot be asked: never sent again by itself; a person checks, then retries from the inbox.
UNKNOWN = "unknown"
# Owed from test mode, and an administrator chose, going live, never to send it.
DISCARDED = "discarded"
OWED = (PENDING, DRY_RUN, FAILED)
OUTBOUND_STATUSES = (PENDING, DRY_RUN, SENDING, SENT, FAILED, DISCARDED)

# Actions: their names are the connectors' (connectors.base, e.g. ACK_ORDER, "tell the
# marketplace our id for its order"). What each is called on the pages and in the CLI's summary.
ACTION_LABELS = {
    ACK_ORDER: "Merchant order ids (order acknowledgements)",
    # Order actions (webapp/orders/fulfilment.py records them as "order.<type>").
    "order.ship": "Order actions: ship",
    "order.accept": "Order actions: accept",
    "order.refuse": "Order actions: refuse",
    "order.cancel": "Order actions: cancel",
    "order.partial_cancel": "Order actions: partial cancel",
    "order.refund": "Order actions: refund",
    # connectors.shoppingfeed: one batch of up to 100 SKUs each (webapp.pushes)
    "stock.inventory": "Stock levels (batches of SKUs)",
    "price.pricing": "Prices (batches of SKUs)",
}


def action_label(action: str) -> str:
    """What the pages and the CLI call an outbound action; an order action the marketplace
    alone offers ("order.set_delivery_date") by its type."""
    if action not in ACTION_LABELS and action.startswith("order."):
        return "Order actions: " + action.removeprefix("order.").replace("_", " ")
    return ACTION_LABELS.get(action, action)


TEST, LIVE = "test", "live"

# What going live did with the calls test mode had recorded.
SEND, DISCARD = "send", "discard"


class OutboundCall(TimestampMixin, db.Model):
    __tablename__ = "outbound_calls"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    account_id = db.Column(
        db.Integer, db.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    action = db.Column(db.String(64), nullable=False)
    subject_type = db.Column(db.String(16))  # "order"...
    subject_id = db.Column(db.Integer)
    # One owed change per (account, action, key): the same change is never recorded twice.
    dedup_key = db.Column(db.String(255), nullable=False)
    params = db.Column(JSONType, nullable=False)  # what the connector builds the request from
    method = db.Column(db.String(8), nullable=False)
    url = db.Column(db.Text, nullable=False)
    body = db.Column(JSONType)  # as sent (or as it would be), secrets masked
    status = db.Column(db.String(16), nullable=False, default=PENDING)
    attempts = db.Column(db.Integer, nullable=False, default=0)
    last_error = db.Column(db.Text)
    next_attempt_at = db.Column(db.DateTime)
    dry_run_at = db.Column(db.DateTime)  # when test mode recorded it instead of sending
    sent_at = db.Column(db.DateTime)
    discarded_at = db.Column(db.DateTime)
    # The going-live that released it (to be sent) or discarded it.
    mode_change_id = db.Column(
        db.Integer, db.ForeignKey("account_mode_changes.id", ondelete="SET NULL")
    )

    __table_args__ = (
        db.UniqueConstraint("account_id", "action", "dedup_key", name="uq_outbound_calls_key"),
        db.Index("ix_outbound_calls_owed", "account_id", "status", "next_attempt_at"),
        db.Index("ix_outbound_calls_subject", "subject_type", "subject_id"),
    )


class AccountModeChange(db.Model):
    """An account switched between test mode and live: who did it and when, and, going
    live, what test mode had left owed and what the administrator chose to do with it."""

    __tablename__ = "account_mode_changes"

    id = db.Column(db.Integer, primary_key=True)
    account_id = db.Column(
        db.Integer, db.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    from_mode = db.Column(db.String(8))  # None when the account was created
    to_mode = db.Column(db.String(8), nullable=False)
    changed_by = db.Column(db.String(255), nullable=False)
    changed_at = db.Column(db.DateTime, nullable=False)
    # Going live: the calls owed at that moment, per action ({action: {"count", "oldest"}}),
    # their total, and the choice (SEND or DISCARD); None for other changes.
    owed = db.Column(JSONType)
    owed_count = db.Column(db.Integer)
    owed_choice = db.Column(db.String(8))

"""Recording outbound calls: what Mercato owes a marketplace, written before anything is sent.

The order import records an acknowledgement (our merchant order id) for every order it books,
in the page's transaction (``record``): nothing goes out during the import.  A live account's
call is ``pending``; in test mode it is recorded as ``dry_run`` with the exact method, URL and
body it would have sent (secrets masked).  :mod:`webapp.outbound.sender` sends what is due.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select

from connectors.base import Capability
from webapp.bulk import bulk_insert
from webapp.extensions import db
from webapp.models import Account
from webapp.models.base import utcnow
from webapp.models.outbound import ACK_ORDER, DRY_RUN, FAILED, PENDING, SENDING, OutboundCall

CALLS = OutboundCall.__table__
# A sender that dies after claiming leaves ``sending`` rows; the next one takes them over
# after this long (sending twice is harmless for idempotent calls such as the merchant id).
STALE_CLAIM = timedelta(minutes=10)


def ack_row(account: Account, connector, order_id: int, channel: str, channel_order_id: str):
    """The outbound call telling the marketplace our id for one order (a dict for
    :func:`record`), or None when the connector takes no merchant order id."""
    if not connector.supports(Capability.ORDER_ACK):
        return None
    params = {
        "channel": channel,
        "channel_order_id": channel_order_id,
        "merchant_order_id": str(order_id),
    }
    return call_row(account, connector, ACK_ORDER, params, "order", order_id, str(order_id))


def call_row(account, connector, action, params, subject_type, subject_id, dedup_key) -> dict:
    request = connector.outbound_request(action, params)
    shown = connector.describe(request)
    now = utcnow()
    live = account.is_live
    return {
        "store_id": account.store_id,
        "account_id": account.id,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "dedup_key": dedup_key,
        "params": params,
        "method": shown["method"],
        "url": shown["url"],
        "body": shown["body"],
        "status": PENDING if live else DRY_RUN,
        "attempts": 0,
        "dry_run_at": None if live else now,
        "created_at": now,
        "updated_at": now,
    }


def record(rows: list[dict], inserts=None) -> None:
    """Insert owed calls in the caller's transaction (or add them to its
    :class:`webapp.bulk.Inserts`); one already recorded stays as it is."""
    if not rows:
        return
    if inserts is not None:
        inserts.add(CALLS, rows, conflict=["account_id", "action", "dedup_key"])
    else:
        bulk_insert(CALLS, rows, conflict=["account_id", "action", "dedup_key"])


def _due(account_id: int, now):
    """What a live account's step sends now. A ``dry_run`` on a live account is owed too: an
    import that began in test mode and committed after the account went live recorded it
    (going live itself leaves no dry run behind), so it is a call of the live account."""
    return and_(
        CALLS.c.account_id == account_id,
        or_(
            and_(
                CALLS.c.status.in_((PENDING, FAILED, DRY_RUN)),
                or_(CALLS.c.next_attempt_at.is_(None), CALLS.c.next_attempt_at <= now),
            ),
            and_(CALLS.c.status == SENDING, CALLS.c.updated_at < now - STALE_CLAIM),
        ),
    )


def has_due(account: Account) -> bool:
    now = utcnow()
    return (
        db.session.execute(select(CALLS.c.id).where(_due(account.id, now)).limit(1)).first()
        is not None
    )

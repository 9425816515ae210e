"""What the pages show of outbound calls: an order's acknowledgement, an account's calls."""

from __future__ import annotations

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Account
from webapp.models.outbound import ACK_ORDER, OWED, PENDING, SENDING, OutboundCall
from webapp.outbound.record import CALLS


def ack_calls(order_ids: list[int]) -> dict[int, OutboundCall]:
    """Each order's acknowledgement call, for a page of orders (one query on the subject
    index)."""
    if not order_ids:
        return {}
    return {
        call.subject_id: call
        for call in db.session.scalars(
            select(OutboundCall).where(
                OutboundCall.subject_type == "order",
                OutboundCall.subject_id.in_(order_ids),
                OutboundCall.action == ACK_ORDER,
            )
        )
    }


def shown_request(call: OutboundCall, secrets: dict | None) -> dict:
    """A recorded call's request as a page shows it: method, URL and pretty JSON body, with
    the account's secrets masked again (they were masked when recorded; a secret changed
    since cannot be in it, but a page never trusts that) and a URL password masked."""
    import json

    from connectors.base import mask_values
    from connectors.egress import mask_url

    url, body = call.url, call.body
    if secrets:
        url, body = mask_values(url, secrets), mask_values(body, secrets)
    return {
        "method": call.method,
        "url": mask_url(url),
        "body": None
        if body is None
        else json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True),
    }


def readable_secrets(account: Account) -> dict:
    try:
        return account.secrets()
    except ValueError:  # the current keys cannot read them: the recorded masking stands
        return {}


def calls_query(account_id: int, status: str | None):
    conditions = [CALLS.c.account_id == account_id]
    if status == "owed":
        conditions.append(CALLS.c.status.in_(OWED))
    elif status:
        conditions.append(CALLS.c.status == status)
    query = select(OutboundCall).where(*conditions).order_by(OutboundCall.id.desc())
    count = select(func.count()).select_from(CALLS).where(*conditions)
    return query, count


def owed_counts(account_ids: list[int]) -> dict[int, int]:
    """Owed calls per account, for the accounts list."""
    if not account_ids:
        return {}
    rows = db.session.execute(
        select(CALLS.c.account_id, func.count())
        .where(CALLS.c.account_id.in_(account_ids), CALLS.c.status.in_(OWED))
        .group_by(CALLS.c.account_id)
    )
    return dict(rows.all())


def in_flight(account_id: int) -> bool:
    """Calls of a live account the step is about to send or sending: the page follows them."""
    return (
        db.session.execute(
            select(CALLS.c.id)
            .where(CALLS.c.account_id == account_id, CALLS.c.status.in_((PENDING, SENDING)))
            .limit(1)
        ).first()
        is not None
    )

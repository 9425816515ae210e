"""Outbound calls: every change Mercato sends to a marketplace, recorded first, sent once.

- :mod:`.record`: what is owed, written in the transaction that decides it (an order booked
  owes its acknowledgement);
- :mod:`.sender`: the one sender (a flow run by the lifecycle) and its one backoff policy;
- :mod:`.modes`: test mode and going live (what is owed, the recorded decision);
- :mod:`.pages`: what the pages show of the calls.
"""

from webapp.models.outbound import DISCARD, SEND
from webapp.outbound.modes import (
    Owed,
    OwedChanged,
    WentLive,
    default_actor,
    go_live,
    go_test,
    mode_at,
    mode_history,
    owed,
    record_creation,
    run_modes,
)
from webapp.outbound.pages import (
    ack_calls,
    calls_query,
    in_flight,
    owed_counts,
    readable_secrets,
    shown_request,
)
from webapp.outbound.record import ack_row, call_row, has_due, record
from webapp.outbound.sender import backoff, send_owed


def send_soon(account) -> None:
    """Ask the sender to send the account's due calls in a worker (going live)."""
    from webapp.runs import lifecycle

    lifecycle.wake_at(None, "send_outbound", account)


__all__ = [
    "DISCARD",
    "SEND",
    "Owed",
    "OwedChanged",
    "WentLive",
    "ack_calls",
    "ack_row",
    "backoff",
    "call_row",
    "calls_query",
    "default_actor",
    "go_live",
    "go_test",
    "has_due",
    "in_flight",
    "mode_at",
    "mode_history",
    "owed",
    "owed_counts",
    "readable_secrets",
    "record",
    "record_creation",
    "run_modes",
    "send_owed",
    "send_soon",
    "shown_request",
]

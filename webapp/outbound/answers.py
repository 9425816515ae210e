"""Calls whose answer matters here, and how a call of unknown outcome is looked up.

Most outbound calls change something on the other side and their answer is only "done"
(:func:`webapp.outbound.sender._effects`). A purchase is different: what it bought comes back
in its answer (the keys), and a purchase whose answer was lost may have bought all the same.
An area that owns such an action registers, with :func:`answered`:

- ``apply(call, answer, now)``: what the answer changes here, in the transaction that marks
  the call ``sent`` (the sender writes such calls at once, one by one);
- ``look_up(connector, call)``: before a call that was tried before is sent again, the other
  side is asked (by the call's own reference) whether the earlier attempt was taken; its
  answer (not None) is adopted as the call's answer and nothing is sent.

A call with a look-up is never held as ``unknown``: it is retried, and the retry asks first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answered:
    action: str
    apply: Callable[[Any, Any, Any], None]
    look_up: Callable[[Any, Any], Any] | None = None


ANSWERS: dict[str, Answered] = {}


def answered(action: str, *, look_up: Callable[[Any, Any], Any] | None = None):
    """Register the decorated ``apply(call, answer, now)`` for ``action``."""

    def register(fn):
        ANSWERS[action] = Answered(action, fn, look_up)
        return fn

    return register


def for_action(action: str) -> Answered | None:
    return ANSWERS.get(action)

"""What can be retried, by cause: the registry the inbox's retries (``webapp.inbox.retry``)
and the failed-feed sweep read, and every area writes into.

An area registers a handler for a message cause it raises (``@handler("unknown_sku")``): it
redoes the failed operation for the message's subject and says whether it now works. Kept
here, below the areas, so an area registering its handler never imports the inbox (which
drives those areas' handlers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from webapp.models import Message


@dataclass
class Outcome:
    resolved: bool
    detail: str = ""
    retry_after: float | None = None  # seconds, when the marketplace said so
    # The retry wrote a fresh message about the same failure: it carries on in its place.
    superseded_by: int | None = None


Handler = Callable[[Message], Outcome]
HANDLERS: dict[str, Handler] = {}
# Causes whose failed work already has its own retry (a call owed to a marketplace: the one
# sender's backoff): the sweep never re-drives them, a person's retry still may (it asks
# that same sender to send now), and the work closes the message when it succeeds.
RETRIED_ELSEWHERE: set[str] = set()


def handler(cause: str, *, swept: bool = True):
    def register(fn: Handler) -> Handler:
        HANDLERS[cause] = fn
        if not swept:
            RETRIED_ELSEWHERE.add(cause)
        return fn

    return register

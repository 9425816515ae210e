"""E-mail to customers: recorded first, sent once over SMTP, dry runs in test mode.

PLACEHOLDER (interface agreed between the mail and digital-fulfilment work; the mail work
replaces :func:`queue_mail`'s body and keeps its signature and the two registries).

- ``@mail_kind("digital_keys")`` registers the function that builds a kind's template
  context from its subject id, at send time (so nothing secret is stored in the message).
- ``@on_sent("digital_keys")`` registers what happens here once a message of that kind is
  sent (its subject's state moves).
- :func:`queue_mail` records one message per (kind, subject) - again only with
  ``resend=True`` - in the caller's transaction and has it sent after commit; in test mode
  (the account's) it is a dry run.
"""

from __future__ import annotations

from collections.abc import Callable

CONTEXTS: dict[str, Callable[[int], dict]] = {}
AFTER_SENT: dict[str, list[Callable]] = {}


def mail_kind(kind: str):
    def register(fn):
        CONTEXTS[kind] = fn
        return fn

    return register


def on_sent(kind: str):
    def register(fn):
        AFTER_SENT.setdefault(kind, []).append(fn)
        return fn

    return register


def queue_mail(
    *,
    store_id: int,
    account_id: int | None,
    kind: str,
    to: str,
    subject_type: str,
    subject_id: int,
    language: str | None = None,
    resend: bool = False,
):
    raise NotImplementedError("e-mail is not built yet")

"""Feeds: what flows for a store or an account, when, and every execution of it.

``defaults`` (which feeds and schedules), ``schedule`` (scheduled_jobs -> rq-scheduler),
``service`` (executing a feed), ``sweep`` (abandoned executions), ``queries``, ``cli``, and
the pages in ``routes`` (blueprint ``feeds``: the store's Feeds and Feed executions pages,
and the admin's executions page).
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("feeds", __name__)

from webapp.feeds import routes  # noqa: E402, F401

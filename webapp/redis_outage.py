"""When Redis is away: what the web says instead of a 500, and what /healthz reports.

Most pages read only the database and keep working. The few things that need Redis (logging
in, which counts failed attempts there; starting a job from a page; the inbox's retries)
answer 503 with a sentence saying what is unavailable: a full page (the navigation still
works), the fragment an htmx request asked for (base.html lets htmx swap a 503), or the
API's JSON error.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, render_template, request
from redis.exceptions import BusyLoadingError, ReadOnlyError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from webapp.htmx import is_htmx
from webapp.json_errors import error_response

log = logging.getLogger("mercato.redis")

# What "Redis is away" looks like to a client: refused or reset connections, timeouts, a
# server still loading its data after a restart, a replica after a failover.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    ReadOnlyError,
)

RETRY_AFTER_SECONDS = 60

LOGIN_UNAVAILABLE = (
    "Logging in is paused: Mercato counts failed attempts in Redis, which cannot be reached "
    "right now, and lets nobody in without that protection. Try again in a few minutes."
)
RETRY_UNAVAILABLE = (
    "Retrying needs the job queue (Redis), which cannot be reached right now: nothing was "
    "queued, and the errors stay open. Try again in a few minutes."
)
INBOX_DEGRADED = (
    "The job queue (Redis) cannot be reached: retries cannot start now, and retries already "
    "queued are not shown. Resolving still works."
)
DEFAULT_UNAVAILABLE = (
    "This needs the job queue (Redis), which cannot be reached right now. Pages that only "
    "read the database (orders, products, accounts, imports) still work. Try again in a few "
    "minutes."
)
# A sentence for the endpoints whose need for Redis is worth its own words.
BY_ENDPOINT = {"auth.login": LOGIN_UNAVAILABLE}


def sentence_for(endpoint: str | None) -> str:
    if endpoint in BY_ENDPOINT:
        return BY_ENDPOINT[endpoint]
    if endpoint and endpoint.startswith("inbox.") and "retry" in endpoint:
        return RETRY_UNAVAILABLE
    return DEFAULT_UNAVAILABLE


def scheduler_alive_key() -> str:
    """Renewed by a running ``python -m jobs.scheduler``; /healthz reads it."""
    return f"{current_app.config.get('MERCATO_QUEUE_PREFIX', '')}mercato:scheduler:alive"


def unavailable_response(error: Exception):
    """The 503 for a request that met a Redis outage it could not do without."""
    endpoint = request.endpoint
    log.warning(
        "redis_unavailable method=%s endpoint=%s error=%r", request.method, endpoint, str(error)
    )
    message = sentence_for(endpoint)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Vary": "HX-Request"}
    if request.path.startswith("/api/"):
        return error_response(503, message, {"Retry-After": str(RETRY_AFTER_SECONDS)})
    if is_htmx():
        body = render_template("partials/_unavailable.html", message=message)
    else:
        body = render_template(
            "unavailable.html",
            message=message,
            back=request.url if request.method == "GET" else _same_site(request.referrer),
            login=endpoint == "auth.login",
        )
    return body, 503, headers


def _same_site(url: str | None) -> str | None:
    """A link back only to a page of this site (the Referer header is the client's say)."""
    if url and url.startswith(request.host_url):
        return url
    return None


def register(app: Flask) -> None:
    for error in OUTAGE_ERRORS:
        app.register_error_handler(error, unavailable_response)

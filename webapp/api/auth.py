"""Bearer-token authentication and per-token rate limiting for /api/v1.

The API accepts personal API tokens only (``Authorization: Bearer mct_...``), never the
browser's session cookie: the API is CSRF-exempt, so honouring the cookie would let any
web page a logged-in user visits drive the API with their session.  The authenticated
user lives in ``g.api_user``; API code never reads Flask-Login's ``current_user``.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from functools import wraps

from flask import current_app, g, request
from redis.exceptions import RedisError
from sqlalchemy import or_, select, update

from webapp.api.errors import ApiError
from webapp.extensions import db, redis_connection
from webapp.models import ApiToken, User
from webapp.models.base import utcnow
from webapp.models.tokens import SCOPE_API, TOKEN_PREFIX, hash_token

log = logging.getLogger("mercato.api")

DEFAULT_RATE_PER_MINUTE = 600
# last_used_at is for people ("is this token still in use?"): minute precision is plenty,
# and it spares the database one write per API request.
TOUCH_INTERVAL = timedelta(minutes=1)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mercato-api"'}


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers=_CHALLENGE)


def api_user() -> User:
    """The user the request's token belongs to (set by ``authenticate``)."""
    return g.api_user


def authenticate() -> None:
    """Resolve the bearer token to an active user, or answer 401.

    Tokens are looked up by their SHA-256: the database never holds a usable token, and
    the lookup compares digests, so response timing says nothing about a valid token.
    """
    # Nothing from an earlier request may survive in g (it outlives a request when an
    # app context was already pushed, as in tests and CLI-driven requests).
    g.pop("api_user", None)
    g.pop("rate_limit_headers", None)
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    token = credentials.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized(
            "Authentication required: send an API token as 'Authorization: Bearer mct_...'."
        )
    row = None
    if token.startswith(TOKEN_PREFIX) and len(token) <= 128:
        row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        raise _unauthorized("The API token is unknown or has been revoked.")
    if row.scope != SCOPE_API:
        raise ApiError(
            403, "This is an operator token: it reads /metrics and /health only, not the API."
        )
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise _unauthorized("The account this API token belongs to is disabled.")
    check_rate_limit(row.id)
    _touch(row)
    g.api_user = user
    g.api_token_id = row.id


def _touch(row: ApiToken) -> None:
    """Record when the token was last used, at most once per TOUCH_INTERVAL.

    The conditional UPDATE keeps it to one write per interval even when several requests
    with the same token arrive together.
    """
    now = utcnow()
    if row.last_used_at is not None and now - row.last_used_at < TOUCH_INTERVAL:
        return
    db.session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == row.id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - TOUCH_INTERVAL),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def clock() -> float:
    """Wall-clock seconds; a function so tests can hold time inside one window."""
    return time.time()


def check_rate_limit(token_id: int) -> None:
    """Count the request in this token's one-minute window; 429 with Retry-After past the limit.

    A fixed window (one Redis counter per token and minute) costs one round trip; it lets
    a client burst up to twice the limit across a minute boundary, which is acceptable for
    protecting the database from a runaway script.  If Redis is unreachable the request is
    let through: reads should not fail because the limiter is down.
    """
    limit = int(current_app.config.get("MERCATO_API_RATE_PER_MINUTE", DEFAULT_RATE_PER_MINUTE))
    if limit <= 0:
        return
    now = clock()
    window = int(now // 60)
    prefix = current_app.config.get("MERCATO_QUEUE_PREFIX", "")
    key = f"{prefix}mercato:api:rate:{token_id}:{window}"
    try:
        pipe = redis_connection().pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count = int(pipe.execute()[0])
    except RedisError:
        log.warning("api rate limiter unavailable; request let through", exc_info=True)
        return
    reset = (window + 1) * 60 - int(now)
    g.rate_limit_headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, limit - count)),
        "X-RateLimit-Reset": str(max(1, reset)),
    }
    if count > limit:
        raise ApiError(
            429,
            f"Rate limit of {limit} requests per minute exceeded; retry in {max(1, reset)} s.",
            headers={"Retry-After": str(max(1, reset)), **g.rate_limit_headers},
        )


def admin_only(view):
    """Admin endpoints: an authenticated non-admin gets 403 (the token is fine, the role not)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not api_user().is_admin:
            raise ApiError(403, "This endpoint is for admins only.")
        return view(*args, **kwargs)

    return wrapper


def public(view):
    """Mark a view that answers without a token (the OpenAPI document)."""
    view.api_public = True
    return view

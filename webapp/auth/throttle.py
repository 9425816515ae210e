"""Failed-login throttling in Redis: per address and per account, with a cool-down."""

from __future__ import annotations

import hashlib

from webapp.extensions import redis_connection

WINDOW_SECONDS = 15 * 60
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 20


def _keys(email: str, address: str) -> tuple[str, str]:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"mercato:login:acct:{digest}", f"mercato:login:addr:{address}"


def blocked_for(email: str, address: str) -> int:
    """Seconds until the next attempt is allowed (0 when it is allowed now)."""
    conn = redis_connection()
    account, addr = _keys(email, address)
    counts = conn.mget(account, addr)
    if int(counts[0] or 0) >= MAX_PER_ACCOUNT:
        return max(1, conn.ttl(account))
    if int(counts[1] or 0) >= MAX_PER_ADDRESS:
        return max(1, conn.ttl(addr))
    return 0


def record_failure(email: str, address: str) -> None:
    conn = redis_connection()
    pipe = conn.pipeline()
    for key in _keys(email, address):
        pipe.incr(key)
        pipe.expire(key, WINDOW_SECONDS, nx=True)
    pipe.execute()


def clear(email: str, address: str) -> None:
    redis_connection().delete(_keys(email, address)[0])

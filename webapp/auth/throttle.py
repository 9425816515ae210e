"""Failed-login throttling in Redis: per address and per account, with a cool-down.

Only commands every Redis the README accepts knows (6.2 and later; nothing of 7.0 such as
``EXPIRE ... NX``): the window starts with ``SET ... EX ... NX`` at the first failure, and
``INCR`` keeps the key's expiry.
"""

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
    """Count one failure for the account and the address. The window starts at the first
    failure and later ones do not push it back."""
    conn = redis_connection()
    keys = _keys(email, address)
    pipe = conn.pipeline()  # MULTI/EXEC: the window and the count together
    for key in keys:
        pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
    replies = pipe.execute()
    # A counter without an expiry (written by hand, or by an older version) would lock the
    # account for ever: give it the window now.
    for key, ttl in zip(keys, replies[2::3], strict=True):
        if ttl < 0:
            conn.expire(key, WINDOW_SECONDS)


def clear(email: str, address: str) -> None:
    redis_connection().delete(_keys(email, address)[0])

"""What the background processes do when Redis goes away: wait for it, then start again.

``python -m jobs.worker`` and ``python -m jobs.scheduler`` each run a supervisor loop: wait
until Redis answers (retrying with a doubling, jittered delay capped at
``MERCATO_REDIS_WAIT_MAX`` seconds, one log line per attempt saying what it waits for), run
RQ's worker or rq-scheduler, and when that stops because Redis went away, wait again and
start a fresh one. SIGTERM or SIGINT (Ctrl-C) ends the process at any point of the loop.
"""

from __future__ import annotations

import logging
import random
import signal
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from redis import Redis

from webapp.redis_outage import OUTAGE_ERRORS

log = logging.getLogger("mercato.redis")

__all__ = ["OUTAGE_ERRORS", "Backoff", "Stop", "redacted", "stop_on_signals", "wait_for_redis"]


def redacted(url: str) -> str:
    """A Redis URL fit for a log line: any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable REDIS_URL>"
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


class Backoff:
    """Delays of 1 s doubling up to ``cap`` seconds, each jittered by up to a quarter."""

    def __init__(self, cap: float, first: float = 1.0) -> None:
        self.cap = max(first, cap)
        self.first = first
        self.next = first

    def delay(self) -> float:
        base = self.next
        self.next = min(self.cap, self.next * 2)
        return base * random.uniform(0.75, 1.0)  # noqa: S311 - jitter, not a secret

    def reset(self) -> None:
        self.next = self.first


def wait_for_redis(
    conn: Redis,
    process: str,
    url: str,
    cap: float,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Return once Redis answers PING; the seconds waited. Logs every failed attempt."""
    backoff = Backoff(cap)
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            conn.ping()
        except OUTAGE_ERRORS as exc:
            attempt += 1
            delay = backoff.delay()
            log.warning(
                "process=%s state=waiting_for_redis redis=%s attempt=%d retry_in=%.1fs error=%r",
                process,
                redacted(url),
                attempt,
                delay,
                str(exc),
            )
            sleep(delay)
            continue
        waited = time.monotonic() - started
        if attempt:
            log.warning(
                "process=%s state=redis_back redis=%s waited=%.1fs", process, redacted(url), waited
            )
        return waited


class Stop(SystemExit):
    """SIGTERM or SIGINT between two runs: the process ends (exit status 0)."""


def stop_on_signals() -> None:
    """While the supervisor waits or prepares (RQ has its own handlers while it runs)."""

    def stop(signum, _frame) -> None:
        log.info("state=stopping signal=%s", signal.Signals(signum).name)
        raise Stop(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

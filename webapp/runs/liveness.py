"""Liveness of a run in flight: a Redis key its process renews while it executes.

The abandoned-run sweep (:mod:`webapp.feeds.sweep`) tells a dead execution (its worker was
killed: the key expired) from a slow one (the key is still renewed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app

from webapp.extensions import redis_connection

log = logging.getLogger("mercato.runs")


def alive_key(run_id: int) -> str:
    return f"{current_app.config.get('MERCATO_QUEUE_PREFIX', '')}mercato:alive:run:{run_id}"


def heartbeat_ttl() -> float:
    return float(current_app.config.get("MERCATO_RUN_HEARTBEAT_TTL", 60))


@contextmanager
def heartbeat(run_id: int) -> Iterator[None]:
    """Keep ``alive_key(run_id)`` alive while the block runs (renewed every third of its
    TTL by a daemon thread of this worker process).  A SIGKILL stops the renewals and the
    key expires: that is how the sweep tells a dead execution from a slow one."""
    ttl = heartbeat_ttl()
    key = alive_key(run_id)
    try:
        conn = redis_connection()
        conn.set(key, "1", px=int(ttl * 1000))
    except Exception:  # noqa: BLE001 - no Redis (an inline CLI run): nothing to renew
        log.warning("job=run_feed run_id=%s heartbeat=unavailable", run_id)
        yield
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl / 3):
            try:
                conn.set(key, "1", px=int(ttl * 1000))
            except Exception:  # noqa: BLE001
                log.warning("job=run_feed run_id=%s heartbeat=failed", run_id)

    thread = threading.Thread(target=renew, name=f"heartbeat-run-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        try:
            conn.delete(key)
        except Exception:  # noqa: BLE001 - it expires by itself
            log.warning("job=run_feed run_id=%s heartbeat=not_cleared", run_id)


def is_alive(run_id: int) -> bool:
    return bool(redis_connection().exists(alive_key(run_id)))

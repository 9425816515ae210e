"""Real-time strategy, the stock side: a movement marks the SKUs it moved for the store's
real-time accounts, and their push is asked for once the transaction commits.

:func:`mark` runs inside every level change (:func:`webapp.stock.levels.move_levels`, which
every movement goes through: manual set, stock file, feed import, order reserve / ship /
cancel / refund; and :func:`~webapp.stock.levels.ensure_levels`, a SKU new to the stock).
It costs one indexed SELECT per transaction (which accounts of the store are real time, with
their stock push feed on; none in the common case, and then nothing else runs) and, when
there are some, one ``INSERT ... SELECT`` upsert per batch of SKUs into ``push_dirty`` in
the movement's own transaction: what is owed is committed with the change, or not at all,
and survives a worker or a Redis restart.

After the commit (SQLAlchemy's ``after_commit``), :func:`kick` asks for each marked account's
debounced push: a Redis key ``SET NX`` with a TTL says one is already on its way, so a burst
of changes enqueues one job (``jobs.pushes.realtime_push``), run a few seconds later
(``MERCATO_REALTIME_PUSH_DELAY``) by the worker's scheduler. The job clears the key first,
so a change committed while it runs asks for the next one. Redis away loses nothing: the rows
stay, and the sweep (:func:`webapp.pushes.realtime.kick_stale`) asks again.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from flask import current_app, has_app_context
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from webapp.extensions import db, queue, redis_connection
from webapp.models import PushDirty, Run
from webapp.models.stock import REALTIME

log = logging.getLogger("mercato.pushes")

JOB = "jobs.pushes.realtime_push"
TRIGGER = "realtime"  # the trigger of the stock push executions it asks for
PENDING = "mercato_realtime_accounts"  # session.info: accounts marked in this transaction
ACCOUNTS = "mercato_realtime_of_store"  # session.info: {store_id: [account ids]} (this txn)
CHUNK = 10_000
FLAG_TTL = 300  # a lost job does not block the next kick for longer than this

_ACCOUNTS_SQL = text(
    """
SELECT c.account_id FROM inventory_sync_configs c
JOIN accounts a ON a.id = c.account_id
WHERE c.store_id = :store AND c.sync_strategy = :realtime AND c.is_enabled
  AND a.retired_at IS NULL
  AND EXISTS (SELECT 1 FROM feeds f WHERE f.account_id = c.account_id
              AND f.kind = 'stock_export' AND f.enabled)
ORDER BY c.account_id
"""
)

_MARK_PG = text(
    """
INSERT INTO push_dirty (account_id, sku, since, touches)
SELECT a.id, s.sku, :now, 1
FROM unnest(CAST(:accounts AS integer[])) AS a(id)
CROSS JOIN unnest(CAST(:skus AS varchar[])) AS s(sku)
ORDER BY 1, 2
ON CONFLICT (account_id, sku) DO UPDATE SET touches = push_dirty.touches + 1
"""
)

# SQLite: the lists as JSON; "WHERE true" lets its parser tell the upsert from a join.
_MARK_SQLITE = text(
    """
INSERT INTO push_dirty (account_id, sku, since, touches)
SELECT a.value, s.value, :now, 1
FROM json_each(:accounts) AS a CROSS JOIN json_each(:skus) AS s
WHERE true
ON CONFLICT (account_id, sku) DO UPDATE SET touches = push_dirty.touches + 1
"""
)


def realtime_accounts(store_id: int) -> list[int]:
    """The store's accounts whose stock goes out in real time (strategy real time, rules
    enabled, account not retired, its stock push feed on), read once per transaction."""
    cache = db.session.info.setdefault(ACCOUNTS, {})
    if store_id not in cache:
        cache[store_id] = list(
            db.session.execute(_ACCOUNTS_SQL, {"store": store_id, "realtime": REALTIME}).scalars()
        )
    return cache[store_id]


def mark(store_id: int, skus, now) -> int:
    """Mark ``skus`` (changed in this transaction) for the store's real-time accounts.
    Returns how many accounts were marked (0: nothing was written)."""
    accounts = realtime_accounts(store_id)
    skus = sorted(set(skus))
    if not accounts or not skus:
        return 0
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(skus), CHUNK):
        chunk = skus[start : start + CHUNK]
        if postgresql:
            db.session.execute(_MARK_PG, {"accounts": accounts, "skus": chunk, "now": now})
        else:
            db.session.execute(
                _MARK_SQLITE,
                {"accounts": json.dumps(accounts), "skus": json.dumps(chunk), "now": now},
            )
    db.session.info.setdefault(PENDING, set()).update(accounts)
    return len(accounts)


# -- after the commit: ask for the push -----------------------------------------------------------


def flag_key(account_id: int) -> str:
    prefix = current_app.config.get("MERCATO_QUEUE_PREFIX", "")
    return f"{prefix}mercato:realtime:{account_id}"


def delay_seconds() -> float:
    return float(current_app.config.get("MERCATO_REALTIME_PUSH_DELAY", 2.0))


def kick(account_id: int, delay: float | None = None) -> bool:
    """Ask for the account's real-time push in ``delay`` seconds, unless one is already on
    its way. True when a job was enqueued. Raises when Redis cannot be reached."""
    conn = redis_connection()
    if not conn.set(flag_key(account_id), "1", nx=True, ex=FLAG_TTL):
        return False
    delay = delay_seconds() if delay is None else delay
    options = {
        "description": f"real-time stock push of account {account_id}",
        "result_ttl": 3600,
        "failure_ttl": 7 * 86400,
    }
    try:
        if delay <= 0:
            queue("default").enqueue(JOB, account_id, **options)
        else:
            queue("default").enqueue_in(timedelta(seconds=delay), JOB, account_id, **options)
    except Exception:
        conn.delete(flag_key(account_id))
        raise
    return True


def clear_flag(account_id: int) -> None:
    """The job has started: a change committed from now on asks for the next push."""
    redis_connection().delete(flag_key(account_id))


@event.listens_for(Session, "after_commit")
def _after_commit(session) -> None:
    session.info.pop(ACCOUNTS, None)
    accounts = session.info.pop(PENDING, None)
    if not accounts or not has_app_context():
        return
    for account_id in sorted(accounts):
        try:
            kick(account_id)
        except Exception:  # noqa: BLE001 - the rows stay; the sweep asks again
            log.warning("realtime push of account %s not queued", account_id, exc_info=True)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session) -> None:
    session.info.pop(ACCOUNTS, None)
    session.info.pop(PENDING, None)


# -- the sync settings page ----------------------------------------------------------------


def status(account) -> dict:
    """What the account's sync settings page shows of the real-time push: how many SKUs
    wait, since when, and the last real-time execution."""
    waiting, oldest = db.session.execute(
        select(func.count(), func.min(PushDirty.since)).where(PushDirty.account_id == account.id)
    ).one()
    last = db.session.scalar(
        select(Run)
        .where(Run.account_id == account.id, Run.trigger == TRIGGER)
        .order_by(Run.id.desc())
        .limit(1)
    )
    return {"pending": int(waiting or 0), "oldest": oldest, "last_run": last}

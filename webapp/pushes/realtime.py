"""Real-time strategy, the push side: the SKUs a movement marked (``push_dirty``, written by
:mod:`webapp.stock.dirty`) go out as one execution of the account's stock push.

The account's debounced job (``jobs.pushes.realtime_push``) calls :func:`push_account`: it
starts the account's ``stock_export`` feed with the trigger ``realtime`` through the run
lifecycle, so the push is an execution like any other (its messages, test mode's dry runs,
the one sender, the feed's lock). The flow (:func:`webapp.pushes.flows.push_stock`) reads the
marked rows first (:func:`pending`) and sends the delta of those SKUs only
(:func:`dirty_delta`), with the SKUs of the unsent batches it supersedes (a failed push's
SKUs go again). Once every batch was acknowledged (or recorded as a dry run) it removes the
rows it covered (:func:`clear`): a row a later change touched again stays, and that change
asked for the next push. A full push (the schedule, Run now) covers every SKU and clears the
rows it read too.

Strategies and the schedule (:func:`webapp.feeds.schedule.desired`): ``scheduled`` runs the
stock push on its feed's schedule (every 15 min by default); ``manual`` is never scheduled
(Run now only); ``realtime`` sends each change within seconds, and the feed's schedule runs as
a safety net no more often than hourly (:data:`SAFETY_NET_SECONDS`): it sends whatever a lost
job or a failed push left behind. The sweep (every minute) asks again for an account whose
rows wait longer than :data:`STALE_SECONDS` (Redis was away when they were marked).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, func, select, text

from webapp.extensions import db
from webapp.models import Account, Feed, InventorySyncConfig, PushDirty, PushState, Run
from webapp.models.base import utcnow
from webapp.models.catalog import MarketplaceProduct, Product
from webapp.models.stock import REALTIME
from webapp.runs import lifecycle
from webapp.stock import dirty
from webapp.stock.availability import levels_of, rules_for

log = logging.getLogger("mercato.pushes")

TRIGGER = dirty.TRIGGER
SAFETY_NET_SECONDS = 3600
STALE_SECONDS = 120
BUSY_RETRY_SECONDS = 5
DIRTY = PushDirty.__table__
STATES = PushState.__table__


# -- what is owed ------------------------------------------------------------------------------


def pending(account_id: int) -> list[tuple[str, int]]:
    """(sku, touches) of the account's marked SKUs, read before the quantities are."""
    return list(
        db.session.execute(
            select(DIRTY.c.sku, DIRTY.c.touches)
            .where(DIRTY.c.account_id == account_id)
            .order_by(DIRTY.c.sku)
        ).all()
    )


_CLEAR_PG = text(
    """
DELETE FROM push_dirty d
USING unnest(CAST(:skus AS varchar[]), CAST(:touches AS integer[])) AS x(sku, touches)
WHERE d.account_id = :account AND d.sku = x.sku AND d.touches = x.touches
"""
)


def clear(account_id: int, read: list[tuple[str, int]]) -> None:
    """Remove the rows read by :func:`pending` that no change touched since (the caller's
    transaction)."""
    if not read:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        for start in range(0, len(read), 10_000):
            chunk = read[start : start + 10_000]
            db.session.execute(
                _CLEAR_PG,
                {
                    "account": account_id,
                    "skus": [s for s, _ in chunk],
                    "touches": [t for _, t in chunk],
                },
            )
        return
    db.session.execute(
        text(
            "DELETE FROM push_dirty WHERE account_id = :account AND sku = :sku "
            "AND touches = :touches"
        ),
        [{"account": account_id, "sku": s, "touches": t} for s, t in read],
    )


def dirty_delta(account, skus: list[str]) -> tuple[list[dict], int]:
    """What :func:`webapp.pushes.flows.stock_delta` would send, for these SKUs only: a
    published SKU the stock knows at its available quantity, any other one at 0 when the
    marketplace was told otherwise; each only when it differs from the acknowledged value.
    (items, how many are unchanged)"""
    rules = rules_for(account)
    mp, p = MarketplaceProduct.__table__, Product.__table__
    items: list[dict] = []
    unchanged = 0
    for start in range(0, len(skus), 5000):
        chunk = skus[start : start + 5000]
        acked = dict(
            db.session.execute(
                select(STATES.c.sku, STATES.c.quantity).where(
                    STATES.c.account_id == account.id,
                    STATES.c.sku.in_(chunk),
                    STATES.c.quantity.is_not(None),
                )
            ).all()
        )
        published = set(
            db.session.scalars(
                select(mp.c.marketplace_product_id)
                .select_from(p.join(mp, mp.c.id == p.c.marketplace_product_id))
                .where(p.c.store_id == account.store_id, mp.c.marketplace_product_id.in_(chunk))
            )
        )
        known = {
            sku: rules.available(int(on_hand), int(reserved), bool(sellable))
            for sku, on_hand, reserved, sellable in levels_of(account.store_id, chunk)
        }
        for sku in chunk:
            was = acked.get(sku)
            if sku in published and sku in known:
                now = known[sku]
            elif was is not None and was != 0:
                now = 0
            else:
                continue  # never sent, and nothing to send (as a full push)
            if was == now:
                unchanged += 1
            else:
                items.append({"reference": sku, "quantity": now})
    return items, unchanged


# -- the job -----------------------------------------------------------------------------------


def stock_feed(account: Account) -> Feed | None:
    return lifecycle.account_feed(account, "stock_export")


def strategy_of(account_id: int) -> str | None:
    return db.session.scalar(
        select(InventorySyncConfig.sync_strategy).where(
            InventorySyncConfig.account_id == account_id
        )
    )


def push_account(account_id: int) -> dict:
    """The account's debounced job: push what is marked as an execution of its stock feed
    (see the module doc). Returns what happened, for the job's result."""
    dirty.clear_flag(account_id)
    account = db.session.get(Account, account_id)
    if account is None:
        return {"account_id": account_id, "state": "gone"}
    waiting = db.session.scalar(
        select(func.count()).select_from(DIRTY).where(DIRTY.c.account_id == account_id)
    )
    if not waiting:
        return {"account_id": account_id, "state": "nothing_to_push"}
    feed = stock_feed(account)
    strategy = strategy_of(account_id)
    reason = None
    if account.is_retired:
        reason = "account retired"
    elif strategy != REALTIME:
        reason = f"strategy is {strategy or 'scheduled'}"
    elif feed is None or not feed.enabled:
        reason = "stock push feed disabled"
    if reason is not None:
        # No longer real time: the account's own schedule or Run now sends the full delta.
        db.session.execute(delete(DIRTY).where(DIRTY.c.account_id == account_id))
        db.session.commit()
        log.info("job=realtime_push account_id=%s state=dropped reason=%r", account_id, reason)
        return {"account_id": account_id, "state": "dropped", "reason": reason}
    try:
        lifecycle.check_startable(feed)
        started = lifecycle.create_execution(feed, TRIGGER)
    except lifecycle.FeedError as exc:
        return {"account_id": account_id, "state": "not_started", "reason": str(exc)}
    if not started.started:
        # Another execution of the feed holds its lock: ask again once it may be done.
        dirty.kick(account_id, max(dirty.delay_seconds(), BUSY_RETRY_SECONDS))
        return {"account_id": account_id, "state": "busy", "run_id": started.run.id}
    run = lifecycle.execute(started.run.id)
    log.info("job=realtime_push account_id=%s run_id=%s status=%s", account_id, run.id, run.status)
    return {"account_id": account_id, "state": "pushed", "run_id": run.id, "status": run.status}


def kick_stale(now=None) -> dict:
    """Ask again for the push of every account whose marked SKUs wait for longer than
    :data:`STALE_SECONDS` (their job was lost: Redis was away, a worker was killed)."""
    limit = (now or utcnow()) - timedelta(seconds=STALE_SECONDS)
    tried = (
        select(Run.id)
        .where(Run.account_id == DIRTY.c.account_id, Run.trigger == TRIGGER, Run.created_at > limit)
        .exists()
    )
    # An account whose real-time push ran lately (and failed: its rows stay) is not asked
    # again before STALE_SECONDS: a marketplace that is down is not hammered every minute.
    accounts = db.session.scalars(
        select(DIRTY.c.account_id).where(DIRTY.c.since < limit, ~tried).group_by(DIRTY.c.account_id)
    ).all()
    kicked = 0
    for account_id in accounts:
        try:
            kicked += bool(dirty.kick(account_id, 0))
        except Exception:  # noqa: BLE001 - Redis still away: the next sweep tries again
            log.warning("realtime push of account %s not queued", account_id, exc_info=True)
    return {"stale_accounts": len(accounts), "kicked": kicked}

"""What people do with the stock (pages, CLI and API share it): set a SKU's quantity by hand,
read a store's stock with the available quantity of each account, read a SKU's history, and
change an account's stock rules. Each refusal is a :class:`StockError` with one sentence."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import (
    Account,
    InventorySyncConfig,
    StockLevel,
    StockMovement,
    Store,
    Warehouse,
)
from webapp.models import stock as S
from webapp.stock import levels
from webapp.stock.availability import Rules, levels_batch, levels_of, rules_by_account

MAX_QUANTITY = 2_000_000_000
MAX_SKU = 255


class StockError(ValueError):
    """A request the stock refuses; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def parse_quantity(value, label: str = "quantity", *, allow_negative: bool = False) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise StockError(f"The {label} must be a whole number (got {value!r}).", label) from None
    if (number < 0 and not allow_negative) or abs(number) > MAX_QUANTITY:
        raise StockError(f"The {label} must be between 0 and {MAX_QUANTITY} (got {number}).", label)
    return number


def clean_sku(value) -> str:
    sku = (value or "").strip()
    if not sku:
        raise StockError("A SKU is required.", "sku")
    if len(sku) > MAX_SKU:
        raise StockError(f"A SKU has at most {MAX_SKU} characters.", "sku")
    return sku


def set_quantity(
    store: Store,
    sku: str,
    quantity,
    *,
    warehouse: str | None = None,
    reason: str | None = None,
    actor: str,
    user_id: int | None = None,
) -> dict:
    """Set on hand of ``sku`` in ``warehouse`` (its code; the default when None) by hand: a
    ``manual`` movement with who and why; a new warehouse code adds the warehouse. Commits."""
    sku = clean_sku(sku)
    quantity = parse_quantity(quantity)
    code = (warehouse or "").strip() or None
    if code is not None and len(code) > 64:
        raise StockError("A warehouse code has at most 64 characters.", "warehouse")
    wh = levels.warehouse_id(store.id, code, create=True)
    changed = levels.set_on_hand(
        store.id,
        [(sku, wh, quantity)],
        reason=S.MANUAL,
        actor=actor,
        user_id=user_id,
        note=(reason or "").strip()[:1000] or None,
    )
    db.session.commit()
    return {**sku_record(store, sku), "changed": bool(changed)}


def accounts_of(store: Store) -> list[Account]:
    return list(
        db.session.scalars(
            select(Account)
            .where(Account.store_id == store.id, Account.retired_at.is_(None))
            .order_by(Account.id)
        )
    )


@dataclass
class StockRow:
    sku: str
    on_hand: int
    reserved: int
    sellable: bool
    available: dict[int, int]

    def as_dict(self) -> dict:
        return {
            "sku": self.sku,
            "on_hand": self.on_hand,
            "reserved": self.reserved,
            "available": {str(k): v for k, v in self.available.items()},
        }


def _row(raw, rules: dict[int, Rules]) -> StockRow:
    sku, on_hand, reserved, sellable = raw
    on_hand, reserved, sellable = int(on_hand), int(reserved), bool(sellable)
    return StockRow(
        sku,
        on_hand,
        reserved,
        sellable,
        {i: r.available(on_hand, reserved, sellable) for i, r in rules.items()},
    )


def stock_page(store: Store, *, after: str | None = None, limit: int = 50, accounts=None):
    """One keyset page of the store's stock (SKU order, after ``after``): rows and the SKU to
    continue after (None on the last page)."""
    accounts = accounts if accounts is not None else accounts_of(store)
    rules = rules_by_account(a.id for a in accounts)
    raw = levels_batch(store.id, after=after, limit=limit + 1)
    rows = [_row(r, rules) for r in raw[:limit]]
    following = rows[-1].sku if len(raw) > limit else None
    return rows, following


def push_accounts(accounts) -> list[Account]:
    """The accounts whose stock is pushed (their connector takes stock levels)."""
    from connectors import registry
    from connectors.base import Capability

    found = []
    for account in accounts:
        try:
            cls = registry.get(account.connector)
        except KeyError:
            continue
        if cls.supports(Capability.STOCK_OUT):
            found.append(account)
    return found


@dataclass
class PushCell:
    """What one push account knows of one SKU: the quantity it last acknowledged (and when),
    and the quantity its last stock check reported on the marketplace when that check found
    a drift (None: not known; a check that found none, or an acknowledgement since, leaves it
    unknown)."""

    sent: int | None = None
    sent_at: object = None
    reported: int | None = None  # 0 also when the marketplace holds no quantity (``missing``)
    missing: bool = False
    checked_at: object = None

    def drift(self, available: int) -> int | None:
        return None if self.reported is None else self.reported - available


def push_cells(accounts, skus: list[str]) -> dict[int, dict[str, PushCell]]:
    """``{account_id: {sku: PushCell}}`` for a page of SKUs: three queries whatever the page
    size (the acknowledged values, each account's last finished stock check, its drift
    messages for these SKUs)."""
    from webapp.models import Message, PushState, Run
    from webapp.models import runs as R

    ids = [a.id for a in accounts]
    cells: dict[int, dict[str, PushCell]] = {i: {} for i in ids}
    if not ids or not skus:
        return cells
    for account_id, sku, quantity, acked_at in db.session.execute(
        select(PushState.account_id, PushState.sku, PushState.quantity, PushState.stock_acked_at)
        .where(PushState.account_id.in_(ids), PushState.sku.in_(skus))
        .where(PushState.quantity.is_not(None))
    ):
        cells[account_id][sku] = PushCell(sent=quantity, sent_at=acked_at)
    last_checks = db.session.execute(
        select(Run.account_id, func.max(Run.id))
        .where(
            Run.account_id.in_(ids),
            Run.kind == "stock_check",
            Run.status.in_((R.COMPLETED, R.COMPLETED_WITH_ERRORS, R.FAILED)),
            Run.completed_at.is_not(None),
        )
        .group_by(Run.account_id)
    ).all()
    runs = {run_id: account_id for account_id, run_id in last_checks}
    if not runs:
        return cells
    # When each check read the marketplace: a value acknowledged after that (the check's own
    # fix, a push since) makes what it reported no longer current.
    read_at = dict(
        db.session.execute(
            select(Run.id, func.coalesce(Run.started_at, Run.created_at)).where(
                Run.id.in_(list(runs))
            )
        ).all()
    )
    for run_id, sku, data in db.session.execute(
        select(Message.import_job_id, Message.identifier, Message.row_data).where(
            Message.import_job_id.in_(list(runs)),
            Message.error_type == "stock_drift",
            Message.identifier.in_(skus),
        )
    ):
        reported = (data or {}).get("marketplace")
        cell = cells[runs[run_id]].setdefault(sku, PushCell())
        checked_at = read_at.get(run_id)
        if cell.sent_at is not None and checked_at is not None and cell.sent_at >= checked_at:
            continue  # acknowledged since the check read it: no longer known
        cell.reported = 0 if reported is None else int(reported)
        cell.missing = reported is None
        cell.checked_at = checked_at
    return cells


def iter_stock(store: Store, sku: str | None = None) -> Iterator[StockRow]:
    accounts = accounts_of(store)
    rules = rules_by_account(a.id for a in accounts)
    if sku is not None:
        found = levels_of(store.id, [sku])
        if not found:
            raise StockError(f"The stock of {store.code} has no SKU {sku!r}.", "sku")
        yield _row(found[0], rules)
        return
    after = None
    while True:
        raw = levels_batch(store.id, after=after, limit=5000)
        for r in raw:
            yield _row(r, rules)
        if len(raw) < 5000:
            return
        after = raw[-1][0]


def sku_record(store: Store, sku: str) -> dict:
    """A SKU's stock: totals, per warehouse, and the available quantity of each account."""
    found = levels_of(store.id, [sku])
    accounts = accounts_of(store)
    rules = rules_by_account(a.id for a in accounts)
    row = _row(found[0], rules) if found else StockRow(sku, 0, 0, True, {})
    if not found:
        row.available = {i: r.available(0, 0) for i, r in rules.items()}
    warehouses = db.session.execute(
        select(Warehouse.code, StockLevel.on_hand, StockLevel.reserved)
        .join(Warehouse, Warehouse.id == StockLevel.warehouse_id)
        .where(StockLevel.store_id == store.id, StockLevel.sku == sku)
        .order_by(Warehouse.code)
    ).all()
    return {
        **row.as_dict(),
        "warehouses": [{"code": c, "on_hand": a, "reserved": b} for c, a, b in warehouses],
    }


def movements(store: Store, sku: str, *, before: int | None = None, limit: int = 50):
    """A SKU's movements, newest first (keyset: ids below ``before``)."""
    query = (
        select(StockMovement, Warehouse.code)
        .join(Warehouse, Warehouse.id == StockMovement.warehouse_id)
        .where(StockMovement.store_id == store.id, StockMovement.sku == sku)
        .order_by(StockMovement.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(StockMovement.id < before)
    rows = db.session.execute(query).all()
    following = rows[limit - 1][0].id if len(rows) > limit else None
    return [movement_dict(m, code) for m, code in rows[:limit]], following


def movement_dict(m: StockMovement, warehouse_code: str) -> dict:
    return {
        "id": m.id,
        "at": m.created_at.isoformat(timespec="seconds") + "Z",  # naive UTC
        "sku": m.sku,
        "warehouse": warehouse_code,
        "reason": m.reason,
        "on_hand_delta": m.on_hand_delta,
        "reserved_delta": m.reserved_delta,
        "order_item_id": m.order_item_id,
        "fulfilment_event_id": m.fulfilment_event_id,
        "order_action_id": m.order_action_id,
        "run_id": m.run_id,
        "actor": m.actor,
        "note": m.note,
    }


# -- the account's stock rules -----------------------------------------------------------------


def settings_of(account: Account) -> InventorySyncConfig:
    """The account's stock rules (its defaults, not added, when it never set them)."""
    found = db.session.scalar(
        select(InventorySyncConfig).where(InventorySyncConfig.account_id == account.id)
    )
    return found or InventorySyncConfig(
        store_id=account.store_id,
        account_id=account.id,
        is_enabled=True,
        sync_strategy=S.SCHEDULED,
        sync_interval_minutes=15,
        safety_stock=0,
        out_of_stock_threshold=0,
        zero_stock=S.ZERO_SEND,
        items_synced_count=0,
    )


def record_sync(account: Account, status: str, at, items: int, error: str | None) -> None:
    """A stock push ended: the account's last sync (seed 001 4.3: when, how, how many SKUs
    the marketplace took, why it failed), shown on the account's stock page; committed.
    ``status`` is the run's, or ``dry_run`` in test mode (nothing was sent)."""
    config = settings_of(account)
    config.last_sync_at = at
    config.last_sync_status = status
    config.last_sync_error = error
    config.items_synced_count = items
    if config.id is None:
        db.session.add(config)
    db.session.commit()


def update_settings(
    account: Account,
    *,
    safety_stock=None,
    oos_threshold=None,
    zero_stock: str | None = None,
    strategy: str | None = None,
    interval_minutes=None,
) -> InventorySyncConfig:
    """Change the given rules (None: keep); every value is checked before any is saved."""
    config = settings_of(account)
    changes = {}
    if safety_stock is not None:
        changes["safety_stock"] = parse_quantity(safety_stock, "safety stock")
    if oos_threshold is not None:
        changes["out_of_stock_threshold"] = parse_quantity(oos_threshold, "out-of-stock threshold")
    if zero_stock is not None:
        if zero_stock not in S.ZERO_STOCK_RULES:
            raise StockError("Zero stock is either send or hold.", "zero_stock")
        changes["zero_stock"] = zero_stock
    if strategy is not None:
        if strategy not in S.STRATEGIES:
            raise StockError("The strategy is realtime, scheduled or manual.", "strategy")
        changes["sync_strategy"] = strategy
    if interval_minutes is not None:
        minutes = parse_quantity(interval_minutes, "interval")
        if not 1 <= minutes <= 7 * 24 * 60:
            raise StockError("The interval is between 1 minute and 7 days.", "interval_minutes")
        changes["sync_interval_minutes"] = minutes
    differ = {name for name, value in changes.items() if getattr(config, name, None) != value}
    moved = differ & {"sync_strategy", "sync_interval_minutes"}
    rules = differ & {"safety_stock", "out_of_stock_threshold", "zero_stock", "sync_strategy"}
    for name, value in changes.items():
        setattr(config, name, value)
    if config.id is None:
        db.session.add(config)
    if "sync_interval_minutes" in moved:
        _follow_interval(account, config.sync_interval_minutes)
    db.session.commit()
    if moved:
        _reconcile_soon()
    if rules and config.sync_strategy == S.REALTIME:
        _push_everything(account)
    return config


RULES_TRIGGER = "rules"


def _push_everything(account: Account) -> None:
    """A real-time account whose rules changed (every SKU's available quantity may have), or
    that just became real time (what changed before was not marked): its full stock push,
    queued now rather than at the hourly safety net. A disabled push feed sends nothing."""
    from webapp.models import Feed
    from webapp.runs import lifecycle

    feed = db.session.scalar(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "stock_export")
    )
    if feed is None or not feed.enabled:
        return
    try:
        lifecycle.start_feed(feed, RULES_TRIGGER)
    except lifecycle.FeedError:
        db.session.rollback()


def _follow_interval(account: Account, minutes: int) -> None:
    """The interval of the scheduled strategy is the stock push feed's schedule."""
    from datetime import timedelta

    from webapp.models import Feed
    from webapp.models.base import utcnow

    feed = db.session.scalar(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "stock_export")
    )
    job = feed.schedule if feed is not None else None
    if job is None:
        return
    job.interval_seconds, job.cron_expression = minutes * 60, None
    job.next_run_at = utcnow() + timedelta(minutes=minutes)


def _reconcile_soon() -> None:
    """The strategy decides whether and how often the stock push is scheduled
    (:func:`webapp.feeds.schedule.desired`): the scheduler follows a change at once (its
    periodic reconcile would within minutes). Redis away: the periodic one does it."""
    import logging

    from webapp.extensions import queue

    try:
        queue("default").enqueue(
            "jobs.feeds.reconcile_schedules", description="reconcile after a strategy change"
        )
    except Exception:  # noqa: BLE001
        logging.getLogger("mercato.stock").warning("reconcile not queued", exc_info=True)


def update_store_settings(
    store: Store, *, feed_is_stock_source: bool | None = None, restock_on_refund=None
) -> S.StoreStockSettings:
    settings = db.session.get(S.StoreStockSettings, store.id)
    if settings is None:
        settings = levels.store_settings(store.id)
        db.session.add(settings)
    if feed_is_stock_source is not None:
        settings.feed_is_stock_source = bool(feed_is_stock_source)
    if restock_on_refund is not None:
        settings.restock_on_refund = bool(restock_on_refund)
    db.session.commit()
    return settings

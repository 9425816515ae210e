"""The push flows: stock and prices out, and the nightly stock check.

- ``stock_export`` (every 15 min by default) and ``price_export`` (daily): the delta between
  what Mercato says now (:mod:`webapp.stock.availability` for quantities, the published
  products with their overrides for prices) and what the marketplace last acknowledged
  (``push_states``), cut in the connector's batches. Each batch is an outbound call, recorded
  first (:func:`webapp.outbound.record`): in test mode a dry run with the exact request, and
  nothing is sent; live, the run sends its batches through the one sender
  (:func:`webapp.outbound.sender.send_calls`), whose success moves the acknowledged values.
  A push supersedes the unsent batches of the pushes before it: it recomputes them from the
  acknowledged values, so an older batch is either in it again or no longer needed.
- ``stock_check`` (nightly): reads what the marketplace shows and reports every SKU whose
  quantity differs from Mercato's, as messages naming the SKU, both quantities and the cause
  when known; for an account whose price push is on, the prices too (ShoppingFeed's pricing
  read is the official SDK's, not in CONNECTORS.md: ``connectors/shoppingfeed/unverified.py``).
  Run with the trigger ``fix`` (``flask feeds run ID --fix``, the feed page's button) it also
  sends the corrections, through the same push paths.

"Real time" (a stock event sent within seconds, coalesced): :mod:`webapp.pushes.realtime`
starts ``stock_export`` with the trigger ``realtime``, and :func:`push_stock` then sends the
delta of the SKUs the movements marked (``push_dirty``) instead of the whole stock's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from decimal import Decimal

from sqlalchemy import and_, case, delete, func, insert, null, or_, select, update

from connectors.base import Capability
from connectors.errors import ConnectorError
from connectors.shoppingfeed.connector import BATCH_SIZE, chunks, price_sent
from webapp.connector import connector_for
from webapp.extensions import db
from webapp.models import Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.catalog import MarketplaceProduct, Product
from webapp.models.outbound import DISCARDED, DRY_RUN, FAILED, PENDING
from webapp.models.pushes import PRICE_ACTION, STOCK_ACTION, PushState
from webapp.outbound.record import CALLS, call_row, record
from webapp.outbound.sender import send_calls
from webapp.pushes import realtime
from webapp.runs import lifecycle
from webapp.runs.registry import OUT, flow
from webapp.stock.availability import available_select, set_based_session, sku_order
from webapp.stock.service import record_sync

log = logging.getLogger("mercato.pushes")

STATES = PushState.__table__
FIX = "fix"  # the trigger of a stock check that also sends its corrections
DRIFT = "stock_drift"
PRICE_DRIFT = "price_drift"
SUBJECT = "push"


# -- deltas --------------------------------------------------------------------------------


def acked_stock(account_id: int) -> dict[str, int]:
    """``{sku: quantity}`` the marketplace acknowledged, read through the driver's cursor
    (a million rows: result-row objects cost more than the query)."""
    connection = db.session.connection()
    query = select(STATES.c.sku, STATES.c.quantity).where(
        STATES.c.account_id == int(account_id), STATES.c.quantity.is_not(None)
    )
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql)
        return dict(cursor.fetchall())
    finally:
        cursor.close()


def published_skus(store_id: int) -> Iterator[str]:
    """The store's published SKUs, each once, in code-point order (``iter_available``'s),
    streamed: on PostgreSQL from a server-side cursor in the session's transaction (no row
    objects: at a million rows they cost more than the query), elsewhere SQLAlchemy's own."""
    mp, p = MarketplaceProduct.__table__, Product.__table__
    sku = mp.c.marketplace_product_id
    query = (
        select(sku)
        .select_from(p.join(mp, mp.c.id == p.c.marketplace_product_id))
        .where(p.c.store_id == int(store_id))
        .order_by(sku_order(sku))
    )
    connection = db.session.connection()
    last = None
    if connection.dialect.name == "postgresql":
        compiled = query.compile(dialect=connection.dialect)
        with connection.connection.driver_connection.cursor(name="published_skus") as cursor:
            cursor.itersize = 5000
            cursor.execute(str(compiled), compiled.params)
            for (found,) in cursor:
                if found != last:  # a SKU published on several marketplaces
                    last = found
                    yield found
        return
    result = connection.execute(query.execution_options(stream_results=True, yield_per=5000))
    try:
        for found in result.scalars():
            if found != last:
                last = found
                yield found
    finally:
        result.close()


def published_available(account) -> Iterator[tuple[str, int]]:
    """(sku, available) of the store's published SKUs that its stock knows, in SKU order, one
    set-based query (:func:`available_select`). A SKU the stock knows that no product
    publishes is not the channel's; a published SKU without stock is left out (never sent;
    0 when it was acknowledged, see :func:`stock_delta`)."""
    set_based_session()
    query = available_select(account, published_only=True)
    sku = query.selected_columns[0]
    for found, quantity in db.session.execute(query.order_by(sku_order(sku))):
        yield found, int(quantity)


def stock_delta(account) -> tuple[list[dict], int]:
    """(the items to send, how many SKUs are unchanged): every published SKU whose available
    quantity differs from the acknowledged one, and 0 for an acknowledged SKU no longer
    published or no longer in the stock; the first in SKU code-point order, then the zeros.

    One set-based query (the store's available quantities, :func:`available_select`, full
    join the acknowledged ones): the database compares a million SKUs and returns only those
    that differ, plus one row (key NULL) counting the unchanged ones."""
    set_based_session()
    current = available_select(account, published_only=True).subquery("current")
    acked = (
        select(STATES.c.sku, STATES.c.quantity)
        .where(STATES.c.account_id == int(account.id), STATES.c.quantity.is_not(None))
        .subquery("acked")
    )
    gone = current.c.sku.is_(None)
    key = case(
        (current.c.available == acked.c.quantity, null()),
        else_=func.coalesce(current.c.sku, acked.c.sku),
    )
    query = (
        select(
            key,
            func.max(func.coalesce(current.c.available, 0)),
            func.count(),
            func.max(case((gone, 1), else_=0)),
        )
        .select_from(current.join(acked, acked.c.sku == current.c.sku, full=True))
        .where(or_(current.c.sku.is_not(None), acked.c.quantity != 0))
        .group_by(key)
    )
    changed: list[tuple[int, str, int]] = []
    unchanged = 0
    for sku, quantity, count, was_gone in db.session.execute(query):
        if sku is None:
            unchanged = count
        else:
            changed.append((was_gone, sku, int(quantity)))
    changed.sort()  # code-point order (str comparison), the zeros of gone SKUs last
    return [{"reference": sku, "quantity": quantity} for _, sku, quantity in changed], unchanged


def _money(value) -> str | None:
    return None if value is None else str(Decimal(value).normalize())


def published_prices(account):
    """``(sku, price, sale price, currency)`` of the store's published products with a price
    (the store's overrides first, then the feed's)."""
    mp, p = MarketplaceProduct.__table__, Product.__table__
    return db.session.execute(
        select(
            mp.c.marketplace_product_id,
            func.coalesce(p.c.price, mp.c.price),
            func.coalesce(p.c.sale_price, mp.c.sale_price),
            mp.c.currency,
        )
        .select_from(p.join(mp, mp.c.id == p.c.marketplace_product_id))
        .where(p.c.store_id == account.store_id, func.coalesce(p.c.price, mp.c.price).is_not(None)),
        execution_options={"yield_per": 5000, "stream_results": True},
    )


def price_delta(account) -> tuple[list[dict], int]:
    rows = db.session.execute(
        select(STATES.c.sku, STATES.c.price, STATES.c.sale_price, STATES.c.currency).where(
            STATES.c.account_id == account.id, STATES.c.price.is_not(None)
        )
    )
    acked = {sku: (_money(a), _money(b), c) for sku, a, b, c in rows}
    items: list[dict] = []
    unchanged = 0
    for sku, price, sale_price, currency in published_prices(account):
        now = (_money(price), _money(sale_price), currency)
        if acked.get(sku) == now:
            unchanged += 1
        else:
            items.append(
                {"reference": sku, "price": now[0], "sale_price": now[1], "currency": currency}
            )
    return items, unchanged


# -- sending ---------------------------------------------------------------------------------


def supersede(run: Run, action: str) -> None:
    """The unsent batches of earlier pushes of ``action``: a dry run is dropped (this push
    records what would be sent now), a pending or failed one discarded, never sent."""
    account_id = run.account_id
    mine = and_(CALLS.c.account_id == account_id, CALLS.c.action == action)
    db.session.execute(delete(CALLS).where(mine, CALLS.c.status == DRY_RUN))
    now = utcnow()
    db.session.execute(
        update(CALLS)
        .where(mine, CALLS.c.status.in_((PENDING, FAILED)))
        .values(
            status=DISCARDED,
            discarded_at=now,
            next_attempt_at=None,
            last_error=f"superseded by execution #{run.id}",
            updated_at=now,
        )
    )


def unsent_skus(account_id: int, action: str) -> set[str]:
    """The SKUs of the account's pending or failed calls of ``action`` (what
    :func:`supersede` would discard)."""
    found: set[str] = set()
    for params in db.session.scalars(
        select(CALLS.c.params).where(
            CALLS.c.account_id == account_id,
            CALLS.c.action == action,
            CALLS.c.status.in_((PENDING, FAILED)),
        )
    ):
        for item in (params or {}).get("items") or []:
            if isinstance(item, dict) and item.get("reference") is not None:
                found.add(str(item["reference"]))
    return found


def push_items(run: Run, action: str, items: list[dict], what: str) -> dict:
    """Record ``items`` as batches of outbound calls of this run, then send them (live) or
    leave them as dry runs (test mode). Returns a summary; notes the outcome on the run."""
    account = run.account
    connector = connector_for(account)
    supersede(run, action)
    rows = [
        call_row(account, connector, action, {"items": batch}, SUBJECT, run.id, f"{run.id}:{n}")
        for n, batch in enumerate(chunks(items, BATCH_SIZE))
    ]
    record(rows)
    db.session.commit()
    summary = {"items": len(items), "batches": len(rows), "sent": 0, "failed": 0, "dry_run": 0}
    if not rows:
        return summary
    if not account.is_live:
        summary["dry_run"] = len(rows)
        lifecycle.note(
            run,
            R.INFO,
            "dry_run",
            f"Test mode: {len(items)} {what} in {len(rows)} request(s) recorded as dry runs "
            "with their exact requests; nothing was sent.",
        )
        return summary
    ids = db.session.scalars(
        select(CALLS.c.id)
        .where(
            CALLS.c.account_id == account.id,
            CALLS.c.action == action,
            CALLS.c.subject_type == SUBJECT,
            CALLS.c.subject_id == run.id,
        )
        .order_by(CALLS.c.id)
    ).all()
    sent = send_calls(run, list(ids))
    summary["sent"], summary["failed"] = sent["sent"], sent["failed"]
    return summary


def _finish(run: Run, summary: dict, unchanged: int, what: str) -> dict:
    run = db.session.get(Run, run.id)
    run.total_processed = summary["items"] + unchanged
    run.unchanged_count = unchanged
    run.imported_count = summary["items"] if summary["sent"] == summary["batches"] else 0
    summary["unchanged"] = unchanged
    if summary["failed"]:
        lifecycle.finish(
            run,
            R.FAILED,
            f"{summary['failed']} of {summary['batches']} request(s) of {what} were not "
            "acknowledged; the next push sends them again.",
        )
    else:
        lifecycle.finish(run, R.COMPLETED)
    return summary


def _requires(run: Run, capability: Capability) -> bool:
    connector = connector_for(run.account)
    if connector.supports(capability):
        return True
    lifecycle.finish(run, R.FAILED, f"{connector.name} takes no {capability.value}.")
    return False


# A real-time push of more SKUs than this computes the whole delta (set-based) instead.
REALTIME_FULL_ABOVE = 20_000


@flow(
    "stock_export",
    label="Stock level export",
    direction=OUT,
    capability=Capability.STOCK_OUT,
    interval_seconds=900,
)
def push_stock(run: Run) -> dict:
    """The account's available quantities that differ from the acknowledged ones, sent: of
    every SKU, or (trigger ``realtime``) of the SKUs marked since the last push. Either way
    the marked rows it read are cleared once nothing it owed failed."""
    if not _requires(run, Capability.STOCK_OUT):
        return {}
    account = run.account
    lifecycle.begin(run, "computing")
    marked = realtime.pending(account.id)  # read before the quantities
    if run.trigger == realtime.TRIGGER and len(marked) <= REALTIME_FULL_ABOVE:
        # The unsent batches this push supersedes (a failed one) are owed too: their SKUs
        # go in again, recomputed, so superseding them loses nothing.
        owed = sorted({sku for sku, _ in marked} | unsent_skus(account.id, STOCK_ACTION))
        items, unchanged = realtime.dirty_delta(account, owed)
        touches = sum(t for _, t in marked)
        lifecycle.note(
            run,
            R.INFO,
            "realtime",
            f"Real time: {len(marked)} SKU(s) changed ({touches} change(s) coalesced); "
            f"{len(items)} to send.",
        )
    else:
        items, unchanged = stock_delta(account)
    lifecycle.begin(run, "sending")
    summary = push_items(run, STOCK_ACTION, items, "stock levels")
    if not summary["failed"]:
        realtime.clear(account.id, marked)
        db.session.commit()
    summary["marked"] = len(marked)
    summary = _finish(run, summary, unchanged, "stock levels")
    run = db.session.get(Run, run.id)
    dry = bool(summary["dry_run"])
    record_sync(
        run.account,
        "dry_run" if dry else run.status,
        run.completed_at,
        0 if dry else run.imported_count,
        run.error_message,
    )
    return summary


@flow(
    "price_export",
    label="Price export",
    direction=OUT,
    capability=Capability.PRICES_OUT,
    cron_expression="0 2 * * *",
)
def push_prices(run: Run) -> dict:
    """The published prices (price, sale price, currency) that differ from the acknowledged
    ones, sent."""
    if not _requires(run, Capability.PRICES_OUT):
        return {}
    lifecycle.begin(run, "computing")
    items, unchanged = price_delta(run.account)
    lifecycle.begin(run, "sending")
    summary = push_items(run, PRICE_ACTION, items, "prices")
    return _finish(run, summary, unchanged, "prices")


# -- the stock check -------------------------------------------------------------------------


def _cause(mine: int, theirs: int | None, acked: int | None) -> str:
    if theirs is None:
        return "ShoppingFeed holds no quantity for this SKU (never pushed, or not in its catalog)"
    if acked is None:
        return "never acknowledged by the marketplace: not pushed yet"
    if acked == theirs:
        return "changed in Mercato since the last push (the next stock push sends it)"
    if acked == mine:
        return f"changed on the marketplace after it acknowledged {acked} (outside Mercato)"
    return f"the marketplace shows neither Mercato's quantity nor the last acknowledged ({acked})"


def drifts(account, shown: Iterable[dict[str, int]]) -> tuple[list[dict], int]:
    """Every SKU whose quantity on the marketplace (``shown``, pages of ``{sku: qty}``)
    differs from Mercato's available one (:func:`published_available`): a SKU it shows that
    Mercato does not publish (or has no stock for) should be 0; one Mercato has in stock that
    it does not show is missing. (drifts, SKUs compared)"""
    ours = dict(published_available(account))
    acked = acked_stock(account.id)
    found: list[dict] = []
    seen: set[str] = set()
    for page in shown:
        for sku, theirs in page.items():
            seen.add(sku)
            mine = ours.get(sku, 0)
            if mine != theirs:
                found.append(_drift(sku, mine, theirs, acked.get(sku)))
    for sku, mine in ours.items():
        if sku not in seen and mine > 0:
            found.append(_drift(sku, mine, None, acked.get(sku)))
    return found, len(seen | set(ours))


def _drift(sku: str, mine: int, theirs: int | None, acked: int | None) -> dict:
    return {
        "sku": sku,
        "mercato": mine,
        "marketplace": theirs,
        "acknowledged": acked,
        "cause": _cause(mine, theirs, acked),
    }


def _record(run: Run, found: list[dict], error_type: str, text) -> None:
    """One warning message per drift, naming the SKU (the caller commits)."""
    now = utcnow()
    for start in range(0, len(found), 1000):
        db.session.execute(
            insert(Message),
            [
                {
                    "import_job_id": run.id,
                    "severity": R.WARNING,
                    "error_type": error_type,
                    "identifier": d["sku"],
                    "error_message": text(d),
                    "row_data": d,
                    "created_at": now,
                }
                for d in found[start : start + 1000]
            ],
        )


# -- the price side of the check -------------------------------------------------------------


def _shown_price(value) -> str | None:
    """A price as the check compares and shows it (two decimals, as money is shown)."""
    if value is None:
        return None
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def _price_cause(mine: str | None, theirs: str | None, acked: str | None) -> str:
    if mine is None:
        return (
            "Mercato publishes no price for this SKU (not published, or no price): "
            "not corrected, remove it on the marketplace if it should not sell"
        )
    if theirs is None:
        return "ShoppingFeed holds no price for this SKU (never pushed, or not in its catalog)"
    if acked is None:
        return "never acknowledged by the marketplace: not pushed yet"
    if acked == theirs:
        return "changed in Mercato since the last price push (the next price push sends it)"
    if acked == mine:
        return f"changed on the marketplace after it acknowledged {acked} (outside Mercato)"
    return f"the marketplace shows neither Mercato's price nor the last acknowledged ({acked})"


def price_drifts(account, shown: Iterable[dict]) -> tuple[list[dict], int]:
    """Every SKU whose price on the marketplace (``shown``, pages of ``{sku: price}``)
    differs from the one Mercato sends it (:func:`connectors.shoppingfeed.price_sent` of
    the published price and sale price): one it shows that Mercato does not price is
    reported (not corrected: a price cannot be taken back), one Mercato prices that it does
    not show is missing. (drifts, SKUs compared)"""
    ours: dict[str, tuple[str | None, dict]] = {}
    for sku, price, sale_price, currency in published_prices(account):
        item = {
            "reference": sku,
            "price": _money(price),
            "sale_price": _money(sale_price),
            "currency": currency,
        }
        ours[sku] = (_shown_price(price_sent(price, sale_price)), item)
    acked = {
        sku: _shown_price(price_sent(price, sale_price))
        for sku, price, sale_price in db.session.execute(
            select(STATES.c.sku, STATES.c.price, STATES.c.sale_price).where(
                STATES.c.account_id == account.id, STATES.c.price.is_not(None)
            )
        )
    }
    found: list[dict] = []
    seen: set[str] = set()
    for page in shown:
        for sku, value in page.items():
            seen.add(sku)
            theirs = _shown_price(value)
            mine, item = ours.get(sku, (None, None))
            if mine != theirs:
                found.append(_price_drift(sku, mine, theirs, acked.get(sku), item))
    for sku, (mine, item) in ours.items():
        if sku not in seen and mine is not None:
            found.append(_price_drift(sku, mine, None, acked.get(sku), item))
    return found, len(seen | set(ours))


def _price_drift(sku, mine, theirs, acked, item) -> dict:
    return {
        "sku": sku,
        "kind": "price",
        "mercato": mine,
        "marketplace": theirs,
        "acknowledged": acked,
        "cause": _price_cause(mine, theirs, acked),
        "item": item,  # what a fix sends (None: nothing to send)
    }


def _checks_prices(account, connector) -> bool:
    """The price side runs for an account whose price push is on (its prices are Mercato's
    to keep) and whose connector reads prices back."""
    feed = lifecycle.account_feed(account, "price_export")
    return bool(
        feed is not None
        and feed.enabled
        and connector.supports(Capability.PRICES_OUT)
        and getattr(connector, "fetch_pricing", None) is not None
    )


@flow(
    "stock_check",
    label="Stock check",
    direction=OUT,
    # A push account's inventory read back, or a pull feed's last fetch (any of them).
    capability=(Capability.STOCK_OUT, Capability.CATALOG_OUT),
    cron_expression="0 3 * * *",
)
def check_stock(run: Run) -> dict:
    """What the marketplace shows against what Mercato says: the quantities, and the prices
    when the account's price push is on; every drift a message naming the SKU and both
    values; with the trigger ``fix``, the corrections sent."""
    account = run.account
    connector = connector_for(account)
    reader = getattr(connector, "fetch_inventory", None)
    if reader is None and connector.supports(Capability.CATALOG_OUT):
        return _check_pull_feed(run, connector)
    if reader is None:
        lifecycle.finish(run, R.FAILED, f"{connector.name}'s inventory cannot be read back.")
        return {}
    lifecycle.begin(run, "reading")
    try:
        found, compared = drifts(account, reader())
    except ConnectorError as exc:
        db.session.rollback()
        run = db.session.get(Run, run.id)
        lifecycle.finish(run, R.FAILED, f"{connector.name}'s inventory could not be read: {exc}")
        return {}
    return _report(run, connector, found, compared)


def _check_pull_feed(run: Run, connector) -> dict:
    """A hub that pulls the catalog feed: what its last fetch served against what it would
    get now (:mod:`webapp.catalogfeed.check`). Nothing can be sent: it reads the feed."""
    from webapp.catalogfeed import check as pull

    lifecycle.begin(run, "comparing")
    result = pull.check(run.account)
    run = db.session.get(Run, run.id)
    if result.fetch is None:
        lifecycle.finish(
            run,
            R.FAILED,
            f"{connector.name} has never fetched the catalog feed: there is nothing it read to "
            "compare with (give it the feed URL, the account page).",
        )
        return {}
    when = result.read_at.isoformat(timespec="seconds") + "Z"
    lifecycle.note(
        run,
        R.INFO,
        "pull_feed_reference",
        f"{connector.name} last read the catalog feed at {when}; {result.compared} published "
        "SKU(s) changed stock since.",
    )
    if result.rules_changed:
        lifecycle.note(
            run,
            R.WARNING,
            "stock_rules_changed",
            f"The account's stock rules changed after {connector.name}'s last fetch: every "
            "quantity it read may differ; it gets them at its next fetch.",
        )
    if run.trigger == FIX and result.drifts:
        lifecycle.note(
            run,
            R.INFO,
            "pull_feed_no_fix",
            f"{connector.name} reads the catalog feed: nothing is sent, it gets Mercato's "
            "quantities at its next fetch.",
        )
    summary = _report(run, connector, result.drifts, result.compared, fixable=False)
    summary["last_fetched_at"] = when
    return summary


def _report(run: Run, connector, found: list[dict], compared: int, *, fixable=True) -> dict:
    """The drifts as messages (SKU, both values, the cause), the counts, and with the trigger
    ``fix`` the corrections sent (``fixable``: a push account; a pull feed's hub reads the
    feed). The prices are compared too when the account's price push is on."""
    account = run.account
    name = connector.name
    prices: list[dict] = []
    price_compared = 0
    price_summary: dict = {"checked": False}
    if fixable and _checks_prices(account, connector):
        try:
            prices, price_compared = price_drifts(account, connector.fetch_pricing())
            price_summary = {"checked": True, "compared": price_compared, "drifts": len(prices)}
        except ConnectorError as exc:  # the quantities are still reported (and fixed)
            db.session.rollback()
            run = db.session.get(Run, run.id)
            lifecycle.note(
                run, R.ERROR, "price_read_failed", f"{name}'s prices could not be read: {exc}"
            )
            run = db.session.get(Run, run.id)
            run.error_count += 1
            price_summary = {"checked": False, "error": str(exc)}
    _record(
        run,
        found,
        DRIFT,
        lambda d: (
            f"SKU {d['sku']}: Mercato {d['mercato']}, {name} "
            f"{'none' if d['marketplace'] is None else d['marketplace']} ({d['cause']})."
        ),
    )
    _record(
        run,
        prices,
        PRICE_DRIFT,
        lambda d: (
            f"SKU {d['sku']}: price Mercato {d['mercato'] or 'none'}, {name} "
            f"{d['marketplace'] or 'none'} ({d['cause']})."
        ),
    )
    run = db.session.get(Run, run.id)
    run.total_processed = compared + price_compared
    run.warning_count += len(found) + len(prices)
    run.unchanged_count = run.total_processed - len(found) - len(prices)
    db.session.commit()
    summary = {"compared": compared, "drifts": len(found), "fixed": 0, "prices": price_summary}
    failed = 0
    if run.trigger == FIX and found and fixable:
        lifecycle.begin(run, "sending")
        items = [{"reference": d["sku"], "quantity": d["mercato"]} for d in found]
        sent = push_items(run, STOCK_ACTION, items, "corrections")
        summary.update(fix=sent)
        summary["fixed"] = len(items) if sent["sent"] == sent["batches"] else 0
        failed += sent["failed"]
    corrections = [d["item"] for d in prices if d["item"] is not None]
    if run.trigger == FIX and corrections and fixable:
        lifecycle.begin(run, "sending")
        sent = push_items(run, PRICE_ACTION, corrections, "price corrections")
        price_summary["fix"] = sent
        price_summary["fixed"] = len(corrections) if sent["sent"] == sent["batches"] else 0
        failed += sent["failed"]
    run = db.session.get(Run, run.id)
    run.updated_count = summary["fixed"] + price_summary.get("fixed", 0)
    if failed:
        lifecycle.finish(
            run, R.FAILED, f"{failed} request(s) of corrections were not acknowledged."
        )
        return summary
    lifecycle.finish(run, R.COMPLETED_WITH_ERRORS if run.error_count else R.COMPLETED)
    return summary

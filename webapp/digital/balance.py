"""The supplier account's own feed: its balance read every hour, with an alert below the
threshold the store set (the account's ``balance_alert_below``), and its pre-ordered keys
checked again (those delivered are stored, their orders' e-mails queued).

The balance read is an info message of the run carrying ``{"balance", "total_to_use",
"currency"}`` (what the health check shows); below the threshold, one open inbox entry
(``supplier_balance_low``) says so, and it is resolved by the first read above it.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, update

from connectors.base import Capability
from connectors.errors import ConnectorError
from webapp.connector import connector_for
from webapp.digital import fulfil
from webapp.extensions import db
from webapp.models import Account, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.runs import lifecycle
from webapp.runs.registry import flow

BALANCE_READ = "supplier_balance"
BALANCE_LOW = "supplier_balance_low"


def threshold(account: Account) -> Decimal | None:
    value = (account.settings or {}).get("balance_alert_below")
    return Decimal(str(value)) if value not in (None, "") else None


def last_balance(account_id: int) -> Message | None:
    """The account's latest balance read (an info message with the figures)."""
    return db.session.scalar(
        select(Message)
        .join(Run, Run.id == Message.import_job_id)
        .where(Run.account_id == account_id, Message.error_type == BALANCE_READ)
        .order_by(Message.id.desc())
        .limit(1)
    )


def _open_alert(account: Account) -> Message | None:
    return db.session.scalar(
        select(Message).where(
            Message.error_type == BALANCE_LOW,
            Message.subject_type == "account",
            Message.subject_id == account.id,
            Message.resolved_at.is_(None),
        )
    )


def read_balance(run: Run, account: Account) -> dict:
    """Read the balance; alert below the threshold, resolve the alert above it."""
    connector = connector_for(account)
    balance = connector.account_balance()
    currency = (account.settings or {}).get("currency") or "EUR"
    spend = balance.total_to_use if balance.total_to_use is not None else balance.balance
    figures = {
        "balance": None if balance.balance is None else str(balance.balance),
        "total_to_use": None if spend is None else str(spend),
        "currency": currency,
    }
    below = threshold(account)
    low = below is not None and spend is not None and spend < below
    figures["alert"] = low
    lifecycle.note(
        run,
        R.INFO,
        BALANCE_READ,
        f"CodesWholesale balance: {figures['balance']} {currency} "
        f"({figures['total_to_use']} {currency} to spend).",
        subject_type="account",
        subject_id=account.id,
        row_data=figures,
    )
    alert = _open_alert(account)
    if low:
        if alert is None:
            lifecycle.note(
                run,
                R.ERROR,
                BALANCE_LOW,
                f"The CodesWholesale account {account.name} has {spend} {currency} to spend, "
                f"below the {below} {currency} you set: top it up, or purchases will be "
                "refused (balance too low).",
                subject_type="account",
                subject_id=account.id,
            )
            run.error_count += 1
    elif alert is not None:
        now = utcnow()
        db.session.execute(
            update(Message)
            .where(Message.id == alert.id)
            .values(resolved_at=now, resolved_by=f"execution #{run.id}")
        )
    db.session.commit()
    return figures


@flow(
    "supplier_keys",
    label="Supplier balance and pre-orders",
    capability=Capability.DIGITAL_KEYS,
    interval_seconds=3600,
    run_kind="supplier_keys",
)
def supplier_keys(run: Run) -> dict:
    """The balance (and its alert), then the pre-ordered keys checked again; the orders
    that have every key and wait for their e-mail have it queued."""
    account = run.account
    summary: dict = {}
    try:
        summary["balance"] = read_balance(run, account)
    except ConnectorError as exc:
        db.session.rollback()
        lifecycle.note(
            run,
            exc.severity,
            "connector_error",
            f"The balance could not be read: {exc}",
            subject_type="account",
            subject_id=account.id,
        )
        run.error_count += 1
        lifecycle.finish(run, R.FAILED, str(exc))
        return summary
    pre = fulfil.recheck_pre_orders(run, account)
    summary["pre_orders"] = {k: v for k, v in pre.items() if k != "orders"}
    # The orders that got their last keys since (pre-orders now, purchases the sender
    # retried later) have their e-mail queued.
    for order_id in sorted(set(pre["orders"]) | set(fulfil.undelivered_orders(account.store_id))):
        fulfil.deliver(order_id, run=run)
    run.total_processed = pre["checked"]
    run.imported_count = pre["delivered"]
    lifecycle.finish(run, R.COMPLETED_WITH_ERRORS if run.error_count else R.COMPLETED)
    return summary

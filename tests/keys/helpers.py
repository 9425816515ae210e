"""Small helpers of the key pool tests."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from webapp.extensions import db
from webapp.keys import codes
from webapp.models import Message, Order, OrderItem
from webapp.models.base import utcnow
from webapp.models.keys import DigitalKey


def run_cli(app, *args):
    result = app.test_cli_runner().invoke(args=[str(a) for a in args])
    lines = result.output.strip().splitlines()
    return result, json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None


def jsonl(app, *args) -> list[dict]:
    result = app.test_cli_runner().invoke(args=[str(a) for a in args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.strip().splitlines() if line]


def add_keys(store_id: int, sku: str, count: int, *, prefix: str | None = None, expires=None):
    """``count`` pool keys of ``sku`` written directly (as an upload would)."""
    now = utcnow()
    prefix = prefix or f"{sku}-KEY"
    for n in range(count):
        code = f"{prefix}-{n:06d}"
        db.session.add(
            DigitalKey(
                store_id=store_id,
                sku=sku,
                code_encrypted=codes.seal(code),
                fingerprint=codes.fingerprint(store_id, code),
                expires_at=expires,
                created_at=now,
                updated_at=now,
            )
        )
    db.session.commit()


def order_lines(store_id: int, sku: str, count: int) -> list[int]:
    """``count`` digital order lines of ``sku`` (one order each); their ids."""
    from webapp.accounts import create_account
    from webapp.models import Account, Store

    account = db.session.scalar(select(Account).where(Account.store_id == store_id).limit(1))
    if account is None:
        account = create_account(
            db.session.get(Store, store_id),
            "lengow",
            "Lengow",
            settings={"account_id": str(store_id)},
            secrets={"access_token": "a", "secret": "s"},
        )
    ids = []
    for n in range(count):
        order = Order(
            store_id=store_id,
            account_id=account.id,
            channel="test",
            channel_order_id=f"{sku}-O{n}-{utcnow().timestamp()}",
            status="confirmed",
        )
        db.session.add(order)
        db.session.flush()
        item = OrderItem(order_id=order.id, sku=sku, quantity=1, is_digital=True)
        db.session.add(item)
        db.session.flush()
        ids.append(item.id)
    db.session.commit()
    return ids


def messages_of(run_id: int) -> list[Message]:
    return list(
        db.session.scalars(
            select(Message)
            .where(Message.import_job_id == run_id)
            .order_by(Message.row_number, Message.id)
        )
    )


def past(days: int = 1):
    return utcnow() - timedelta(days=days)

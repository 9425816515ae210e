"""Accounts keep secrets encrypted; the order book refuses a duplicate order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Account, Order, OrderItem, OrderStatusHistory, ParkedOrder


@pytest.fixture
def account(store):
    account = Account(
        store_id=store.id,
        connector="lengow",
        name="Lengow Menzzo",
        settings={"account_id": "5622", "base_url": "https://api.example.com"},
    )
    account.set_secrets({"access_token": "tok-PLAIN-123", "secret": "sec-PLAIN-456"})
    db.session.add(account)
    db.session.commit()
    return account


def test_secrets_are_encrypted_at_rest_and_masked(account):
    stored = db.session.execute(
        text("SELECT secrets_encrypted, settings FROM accounts WHERE id = :id"),
        {"id": account.id},
    ).one()
    assert "PLAIN" not in stored[0] and "PLAIN" not in str(stored[1])
    assert account.secrets() == {"access_token": "tok-PLAIN-123", "secret": "sec-PLAIN-456"}
    assert account.masked_secrets() == {"access_token": "********", "secret": "********"}
    assert "PLAIN" not in repr(account)


def test_an_empty_secret_keeps_the_stored_one(account):
    account.set_secrets({"access_token": "", "secret": "sec-NEW"})
    assert account.secrets() == {"access_token": "tok-PLAIN-123", "secret": "sec-NEW"}


def test_secrets_survive_key_rotation(app, account):
    old = app.config["MERCATO_ENCRYPTION_KEYS"][0]
    new = Fernet.generate_key().decode()
    app.config["MERCATO_ENCRYPTION_KEYS"] = [new, old]
    result = app.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    app.config["MERCATO_ENCRYPTION_KEYS"] = [new]
    db.session.expire_all()
    assert db.session.get(Account, account.id).secrets()["secret"] == "sec-PLAIN-456"


def test_retire_and_reinstate(account):
    account.retire()
    first = account.retired_at
    account.retire()
    assert account.is_retired and account.retired_at == first
    account.reinstate()
    assert not account.is_retired


def test_the_same_order_cannot_exist_twice(store, account):
    def order(**extra):
        return Order(
            store_id=store.id,
            account_id=account.id,
            channel="amazon_fr",
            channel_order_id="402-1234567-1234567",
            status="confirmed",
            **extra,
        )

    first = order(total=Decimal("26.50"), currency="EUR")
    first.items.append(OrderItem(sku="CHAIR-1", quantity=2, unit_price=Decimal("13.25")))
    first.status_history.append(OrderStatusHistory(from_status=None, to_status="confirmed"))
    db.session.add(first)
    db.session.commit()
    assert first.items[0].order_id == first.id and not first.acknowledged
    db.session.add(order())
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    # Same channel order id on another channel or account is another order.
    db.session.add(
        Order(
            store_id=store.id,
            account_id=account.id,
            channel="cdiscount",
            channel_order_id="402-1234567-1234567",
            status="confirmed",
        )
    )
    db.session.commit()


def test_a_parked_order_is_unique_too(store, account):
    for _ in range(2):
        db.session.add(
            ParkedOrder(
                store_id=store.id,
                account_id=account.id,
                channel="amazon_fr",
                channel_order_id="A-1",
                marketplace_status="new",
            )
        )
    with pytest.raises(IntegrityError):
        db.session.commit()

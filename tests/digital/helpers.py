"""Building the digital tests' catalog, orders and pool as a store would have them."""

from __future__ import annotations

from decimal import Decimal

import requests
from sqlalchemy import select

from connectors.orders import BOOK, OrderLine, UnifiedOrder
from webapp.extensions import db
from webapp.keys import codes
from webapp.models import DigitalKey, MarketplaceProduct, Order, OrderItem, Product
from webapp.models.base import utcnow

CW_CLIENT = {"client_id": "sandbox-cw-client", "client_secret": "sandbox-cw-secret"}


def channel_account(store, name: str = "Lengow", *, live: bool = False):
    """The orders' channel account; ``live``: its customers are e-mailed (test mode: the
    keys e-mail is a dry run)."""
    from webapp.accounts import create_account

    return create_account(
        store,
        "lengow",
        name,
        settings={"account_id": "5622"},
        secrets={"access_token": "a", "secret": "s"},
        live=live,
    )


def supplier_account(app, store, url: str, *, live: bool = True):
    from webapp.accounts import create_account

    app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
    app.config["MERCATO_CONNECTOR_BACKOFF_BASE"] = 0.01
    return create_account(
        store,
        "codeswholesale",
        "CodesWholesale",
        settings={"client_id": CW_CLIENT["client_id"], "base_url": url, "api_version": "v2"},
        secrets={"client_secret": CW_CLIENT["client_secret"]},
        live=live,
    )


def product(store, product_id: str, *, marketplace="google", extra=None, publish=True):
    """A catalog product (and its publication): what an import and a publish would leave."""
    mp = MarketplaceProduct(
        store_id=store.id,
        marketplace=marketplace,
        marketplace_product_id=product_id,
        price=Decimal("9.99"),
        currency="EUR",
        extra=extra or {},
        content_hash=abs(hash(product_id)) % (2**62),
    )
    db.session.add(mp)
    db.session.flush()
    if publish:
        db.session.add(
            Product(store_id=store.id, marketplace_product_id=mp.id, price=Decimal("12"))
        )
    db.session.commit()
    return mp


def unified(channel_order_id: str, lines, status="confirmed", email="buyer@example.com"):
    return UnifiedOrder(
        channel="amazon_fr",
        channel_order_id=channel_order_id,
        marketplace_status="waiting_shipment",
        status=status,
        disposition=BOOK,
        customer_email=email,
        lines=[
            OrderLine(
                channel_line_id=f"{channel_order_id}-{n}",
                sku=sku,
                title=sku,
                quantity=qty,
                unit_price=Decimal("12"),
                total=Decimal(12 * qty),
            )
            for n, (sku, qty) in enumerate(lines)
        ],
    )


def book(account, orders) -> list[int]:
    """Book ``orders`` as a poll would; their ids."""
    from webapp.orders.book import apply_page

    outcomes = apply_page(account, orders, changed_by="test")
    db.session.commit()
    return [o.order_id for o in outcomes]


def pool_keys(store, sku: str | None, n: int, *, supplier_product_id=None, prefix="KEY"):
    """``n`` keys uploaded to the store's pool (as the pool upload stores them)."""
    now = utcnow()
    rows = []
    for i in range(n):
        code = f"{prefix}-{sku or supplier_product_id}-{i:05d}-ABCD"
        rows.append(
            {
                "store_id": store.id,
                "sku": sku,
                "supplier_product_id": supplier_product_id,
                "source": "pool",
                "code_type": "text",
                "code_encrypted": codes.seal(code),
                "fingerprint": codes.fingerprint(store.id, code),
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows:
        db.session.execute(DigitalKey.__table__.insert(), rows)
        db.session.commit()


def lines_of(order_id: int) -> list[OrderItem]:
    return list(
        db.session.scalars(
            select(OrderItem).where(OrderItem.order_id == order_id).order_by(OrderItem.id)
        )
    )


def keys_of(line_id: int) -> list[DigitalKey]:
    return list(
        db.session.scalars(
            select(DigitalKey).where(DigitalKey.order_item_id == line_id).order_by(DigitalKey.id)
        )
    )


def order(order_id: int) -> Order:
    return db.session.get(Order, order_id)


def run_for(account):
    from webapp.runs import lifecycle

    return lifecycle.create(
        kind="digital_fulfilment", store_id=account.store_id, account=account, trigger="cli"
    ).run


def cw(url: str) -> dict:
    return requests.get(f"{url}/_sandbox/codeswholesale", timeout=5).json()


def cw_examples(url: str) -> dict[str, list[str]]:
    return requests.get(f"{url}/_sandbox/state", timeout=5).json()["codeswholesale"]["examples"]


def cw_fault(url: str, **spec) -> None:
    answer = requests.post(f"{url}/_sandbox/codeswholesale/faults", json=spec, timeout=5)
    assert answer.status_code == 200, answer.text

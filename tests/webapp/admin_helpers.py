"""A store with something of everything the admin store list counts, for the store pages,
the API and the CLI tests."""

from __future__ import annotations

from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import MarketplaceProduct, Message, Order, Product, Run
from webapp.models import runs as R
from webapp.models.base import utcnow


def fill_store(store, *, products: int, published: int, orders: int, errors: int) -> dict:
    """``products`` imported (``published`` of them published), three accounts (one live, one
    retired), ``orders`` orders, and ``errors`` open inbox errors plus noise that must not
    count: a resolved error, a warning, and an error about one row of a product feed."""
    items = [
        MarketplaceProduct(
            store_id=store.id,
            marketplace="Letzshop",
            marketplace_product_id=f"P{i}",
            content_hash=i,
        )
        for i in range(products)
    ]
    db.session.add_all(items)
    db.session.flush()
    db.session.add_all(
        Product(store_id=store.id, marketplace_product_id=p.id) for p in items[:published]
    )
    db.session.commit()
    secrets = {"access_token": "a", "secret": "s"}
    live = create_account(
        store, "lengow", "Live one", settings={"account_id": "1"}, secrets=secrets, live=True
    )
    create_account(store, "lengow", "Test one", settings={"account_id": "2"}, secrets=secrets)
    gone = create_account(store, "letzshop", "Gone", secrets={"api_token": "t"})
    gone.retire()
    db.session.add_all(
        Order(
            store_id=store.id,
            account_id=live.id,
            channel="lengow",
            channel_order_id=f"{store.code}-{i}",
            status="confirmed",
        )
        for i in range(orders)
    )
    run = Run(store_id=store.id, account_id=live.id, kind="order_import", status=R.COMPLETED)
    db.session.add(run)
    db.session.flush()
    messages = [
        Message(import_job_id=run.id, severity=R.ERROR, error_type="unknown_sku", error_message="x")
        for _ in range(errors)
    ]
    resolved = Message(
        import_job_id=run.id, severity=R.ERROR, error_type="unknown_sku", error_message="done"
    )
    resolved.resolved_at = utcnow()
    messages += [
        resolved,
        Message(import_job_id=run.id, severity=R.WARNING, error_type="w", error_message="w"),
        Message(
            import_job_id=run.id,
            severity=R.ERROR,
            error_type="missing_title",
            error_message="row",
            row_number=2,
        ),
    ]
    db.session.add_all(messages)
    db.session.commit()
    return {
        "products": products,
        "published": published,
        "orders": orders,
        "accounts": 2,
        "live_accounts": 1,
        "open_errors": errors,
    }

"""The demo store's catalog for ``flask demo seed``: the products the marketplace sandbox sells.

The feed itself (its SKUs, and the few left out on purpose) is the sandbox's
(``sandbox.catalog``); this imports it through the real import engine, one run in the store's
import history, and publishes it, so the demo's orders match their products. The store takes
the feed as its stock source, so its stock is seeded from the feed's quantities.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from sandbox.catalog import DISCONTINUED, write_feed
from webapp.extensions import db
from webapp.imports.service import create_run, execute
from webapp.models import MarketplaceProduct, Product, Store
from webapp.models.catalog import DEFAULT_MARKETPLACE
from webapp.orders import matching
from webapp.stock.service import update_store_settings


def seed_demo_catalog(store: Store, echo: Callable[[str], None] = print) -> None:
    """Import and publish the demo catalog once (a store that has products keeps them)."""
    has_products = db.session.scalar(
        select(MarketplaceProduct.id).where(MarketplaceProduct.store_id == store.id).limit(1)
    )
    if has_products is not None:
        return
    # The demo store's stock comes from its feed's quantity column (then orders reserve it).
    update_store_settings(store, feed_is_stock_source=True)
    with tempfile.TemporaryDirectory(prefix="mercato-demo-") as folder:
        path = Path(folder) / "demo-catalog.csv"
        write_feed(path)
        run = create_run(
            store,
            source_path=str(path),
            source_name="demo-catalog.csv",
            marketplace=DEFAULT_MARKETPLACE,
            language=store.default_language or "fr",
            trigger="cli",
        )
        run = execute(run.id)
    imported = db.session.scalars(
        select(MarketplaceProduct.id).where(MarketplaceProduct.store_id == store.id)
    ).all()
    db.session.add_all(Product(store_id=store.id, marketplace_product_id=pid) for pid in imported)
    db.session.commit()
    matching.after_publish(store.id, imported)
    echo(
        f"Demo catalog: import #{run.id} {run.status}, {len(imported)} products imported and "
        f"published (left out on purpose, so their orders wait in the inbox: "
        f"{', '.join(sorted(DISCONTINUED))})"
    )


# -- the digital demo -----------------------------------------------------------------------------

DEMO_CW = "CodesWholesale (sandbox)"
DEMO_CW_CLIENT = {"client_id": "sandbox-cw-client", "client_secret": "sandbox-cw-secret"}
DEMO_MARKUP = Decimal("1.30")  # the store sells supplier products 30 % above its cost
DEMO_POOL_KEYS = 3
DEMO_LENGOW_ACCOUNT = 5622


def _demo_supplier(store: Store, sandbox_url: str):
    """The demo store's CodesWholesale account on the sandbox (live: the sandbox's keys are
    bought), created once, pointed at ``sandbox_url`` every time."""
    from webapp.accounts import check_base_url, create_account
    from webapp.models import Account

    account = db.session.scalar(
        select(Account).where(Account.store_id == store.id, Account.name == DEMO_CW)
    )
    if account is None:
        return create_account(
            store,
            "codeswholesale",
            DEMO_CW,
            settings={
                "client_id": DEMO_CW_CLIENT["client_id"],
                "base_url": sandbox_url,
                "api_version": "v2",
            },
            secrets={"client_secret": DEMO_CW_CLIENT["client_secret"]},
            live=True,
        )
    if account.settings.get("base_url") != sandbox_url:
        check_base_url(sandbox_url)
        account.settings = {**account.settings, "base_url": sandbox_url}
        db.session.commit()
    return account


def seed_demo_digital(store: Store, sandbox_url: str, echo: Callable[[str], None] = print) -> dict:
    """The demo's digital goods, on a running sandbox (``make run`` calls it once the sandbox
    answers): the CodesWholesale account, its catalogue synced (the real feed, inline, once),
    two of its products published with a markup (one delivering text keys, one image keys),
    a key pool for the first (uploaded through the real key import, once), then one sandbox
    order of the Lengow demo account for both, paid (``waiting_shipment``): the next order
    import books it, the worker fulfils it (pool key + a key bought from the sandbox) and
    e-mails the keys to the mail catcher. Returns what it did (JSON-able)."""
    import requests

    from webapp.imports import keys_file as importer
    from webapp.runs import lifecycle

    sandbox_url = sandbox_url.rstrip("/")
    account = _demo_supplier(store, sandbox_url)
    done: dict = {"supplier_account": account.id}
    synced = db.session.scalar(
        select(MarketplaceProduct.id)
        .where(
            MarketplaceProduct.store_id == store.id,
            MarketplaceProduct.marketplace == "codeswholesale",
        )
        .limit(1)
    )
    if synced is None:
        feed = lifecycle.account_feed(account, "supplier_catalog")
        if feed is None:
            raise RuntimeError("The CodesWholesale account has no catalogue feed.")
        run = lifecycle.run_feed(feed.id, trigger="cli").run
        done["catalogue_run"] = {"id": run.id, "status": run.status}
        echo(f"Demo CodesWholesale catalogue: sync #{run.id} {run.status}")
    examples = requests.get(f"{sandbox_url}/_sandbox/state", timeout=10).json()["codeswholesale"][
        "examples"
    ]
    wanted = [examples["text"][0], examples["image"][0]]
    products = {
        mp.marketplace_product_id: mp
        for mp in db.session.scalars(
            select(MarketplaceProduct).where(
                MarketplaceProduct.store_id == store.id,
                MarketplaceProduct.marketplace == "codeswholesale",
                MarketplaceProduct.marketplace_product_id.in_(wanted),
            )
        )
    }
    missing = [pid for pid in wanted if pid not in products]
    if missing:
        raise RuntimeError(f"The sandbox catalogue lacks {', '.join(missing)}.")
    published = []
    for pid in wanted:
        mp = products[pid]
        has = db.session.scalar(select(Product.id).where(Product.marketplace_product_id == mp.id))
        if has is None:
            cost = Decimal(mp.price or 10)
            price = (cost * DEMO_MARKUP).quantize(Decimal("0.01"))
            db.session.add(Product(store_id=store.id, marketplace_product_id=mp.id, price=price))
            published.append(mp.id)
    db.session.commit()
    if published:
        matching.after_publish(store.id, published)
    done["products"] = wanted
    # The pool: a few keys of the first product (then the pool serves it before any purchase).
    from webapp.models import DigitalKey

    pooled = db.session.scalar(
        select(DigitalKey.id)
        .where(DigitalKey.store_id == store.id, DigitalKey.supplier_product_id == wanted[0])
        .limit(1)
    )
    if pooled is None:
        import secrets

        with tempfile.TemporaryDirectory(prefix="mercato-demo-keys-") as folder:
            path = Path(folder) / "demo-keys.csv"
            keys = [
                "-".join(secrets.token_hex(3).upper() for _ in range(3))
                for _ in range(DEMO_POOL_KEYS)
            ]
            path.write_text(
                "supplier_product_id,key\n" + "".join(f"{wanted[0]},{k}\n" for k in keys),
                encoding="utf-8",
            )
            run = importer.create_run(store, source_path=str(path), trigger="cli")
            run = lifecycle.execute(run.id)
        done["pool_import"] = importer.summary(run)
        echo(f"Demo key pool: {DEMO_POOL_KEYS} keys for {wanted[0]} (import #{run.id})")
    from webapp.models import MarketplaceProductTranslation as T

    titles = {
        pid: db.session.scalar(
            select(T.title).where(T.marketplace_product_id == products[pid].id).limit(1)
        )
        or f"Game key {n}"
        for n, pid in enumerate(wanted, 1)
    }
    answer = requests.post(
        f"{sandbox_url}/_sandbox/orders",
        json={
            "account": DEMO_LENGOW_ACCOUNT,
            "status": "waiting_shipment",
            "lines": [
                {
                    "sku": pid,
                    "title": titles[pid],
                    "qty": 1,
                    "unit": float(Decimal(products[pid].price or 10) * DEMO_MARKUP),
                }
                for pid in wanted
            ],
        },
        timeout=10,
    )
    answer.raise_for_status()
    done["sandbox_order"] = answer.json()["added"][0]
    echo(f"Demo digital order {done['sandbox_order']} placed on the sandbox (Lengow 5622)")
    return done

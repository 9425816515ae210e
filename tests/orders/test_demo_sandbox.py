"""`flask demo seed --sandbox-url` and `flask demo import-orders`: what make run does at start,
against the marketplace sandbox served over real HTTP."""

from __future__ import annotations

import json

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from sandbox.app import create_sandbox_app
from sandbox.catalog import DISCONTINUED
from tests.sandbox_server import serve_in_thread
from webapp.extensions import db
from webapp.models import Account, Feed, MarketplaceProduct, Message, Order, OrderItem, Product


@pytest.fixture
def sandbox(app):
    sandbox_app = create_sandbox_app({"SANDBOX_ORDERS": 30, "SANDBOX_STEP_SECONDS": 86400})
    server = make_server("127.0.0.1", 0, sandbox_app, threaded=True)
    thread = serve_in_thread(server)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
    yield url
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.rollback()
    assert result.exit_code == 0, result.output
    return result


def test_seed_creates_the_sandbox_accounts_once_and_follows_the_port(app, sandbox):
    for _ in range(2):
        cli(app, "demo", "seed", "--sandbox-url", sandbox)
    accounts = db.session.scalars(select(Account).order_by(Account.id)).all()
    assert [(a.connector, a.settings["base_url"]) for a in accounts] == [
        ("lengow", sandbox),
        ("letzshop", f"{sandbox}/graphql"),
        ("shoppingfeed", sandbox),
    ]
    assert accounts[0].settings["account_id"] == "5622" and accounts[0].is_live
    assert "sandbox-access-5622" not in accounts[0].secrets_encrypted
    # Live on the sandbox: an order shipped from its page is followed to processed.
    shipping = db.session.scalars(
        select(Feed).where(Feed.kind == "shipping_confirmation").order_by(Feed.account_id)
    ).all()
    assert [(f.account_id, f.enabled) for f in shipping] == [(a.id, True) for a in accounts[:2]]
    # The ShoppingFeed account receives the demo store's stock and prices.
    pushes = db.session.scalars(
        select(Feed).where(Feed.account_id == accounts[2].id).order_by(Feed.kind)
    ).all()
    assert [(f.kind, f.enabled) for f in pushes] == [
        # The sandbox never fetches a catalog feed: its daily check would only say so.
        ("catalog_export", False),
        ("price_export", True),
        ("stock_check", True),
        ("stock_export", True),
    ]
    moved = sandbox.replace(sandbox.rsplit(":", 1)[1], "5999")
    app.config["MERCATO_OUTBOUND_ALLOW"].append("127.0.0.1:5999")
    cli(app, "demo", "seed", "--sandbox-url", moved)
    db.session.refresh(accounts[0])
    assert accounts[0].settings["base_url"] == moved
    assert db.session.scalar(select(func.count(Account.id))) == 3
    # The demo catalog, imported and published once: the sandbox's SKUs but a few.
    products = db.session.scalars(select(MarketplaceProduct.marketplace_product_id)).all()
    assert len(products) == 12 * 40 - len(DISCONTINUED) and not DISCONTINUED & set(products)
    assert db.session.scalar(select(func.count(Product.id))) == len(products)


def test_seed_refuses_a_sandbox_the_outbound_guard_does_not_allow(app, sandbox):
    app.config["MERCATO_OUTBOUND_ALLOW"] = []
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--sandbox-url", sandbox])
    assert result.exit_code != 0 and "loopback" in result.output
    assert db.session.scalar(select(func.count(Account.id))) == 0


def test_import_orders_fills_the_demo_order_book(app, sandbox):
    cli(app, "demo", "seed", "--sandbox-url", sandbox)
    result = cli(app, "demo", "import-orders")
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    # The ShoppingFeed account takes no orders: it receives the demo store's stock instead.
    [pushed] = [line for line in lines if line["account"] == 3]
    assert pushed["status"] == "completed" and pushed["pushed"] > 400, pushed
    held = requests.get(f"{sandbox}/_sandbox/shoppingfeed", timeout=10).json()
    assert len(held["stores"]["29573"]["inventory"]) == pushed["pushed"]
    assert pushed["check"] == "completed" and pushed["drifts"] == 0, pushed
    lines = [line for line in lines if line["account"] != 3]
    assert [line["account"] for line in lines] == [1, 2]
    assert all(line["status"] in ("completed", "completed_with_errors") for line in lines)
    assert all(line["fetched"] == 30 and line["created"] > 0 for line in lines)
    # The seeded catalog has the sandbox's products: only the SKUs left out of it on purpose
    # wait in the inbox, one entry each, however many orders have them.
    unmatched = set(db.session.scalars(select(OrderItem.sku).where(OrderItem.matched.is_(False))))
    assert unmatched <= DISCONTINUED
    assert db.session.scalar(select(func.count(OrderItem.id)).where(OrderItem.matched)) > 30
    entries = db.session.scalars(
        select(Message.identifier).where(Message.severity == "error", Message.resolved_at.is_(None))
    ).all()
    assert sorted(entries) == sorted(unmatched)
    assert sum(line["errors"] for line in lines) == len(entries)
    channels = set(db.session.scalars(select(Order.channel)))
    assert "letzshop" in channels and len(channels) > 1


def test_a_restarted_sandbox_gets_the_demo_stock_back(app, sandbox):
    """make run restarts the sandbox, which forgets what it held; Mercato still knows what it
    acknowledged, so a push alone sends nothing: the stock check with fix sends it again."""
    cli(app, "demo", "seed", "--sandbox-url", sandbox)
    cli(app, "demo", "import-orders")
    url = f"{sandbox}/_sandbox/shoppingfeed"
    first = requests.get(url, timeout=10).json()["stores"]["29573"]["inventory"]
    forget = dict.fromkeys(list(first)[:100])
    requests.post(f"{url}/inventory", json={"store": 29573, "inventory": forget}, timeout=10)
    result = cli(app, "demo", "import-orders")
    [pushed] = [
        json.loads(line)
        for line in result.stdout.splitlines()
        if line.startswith("{") and json.loads(line)["account"] == 3
    ]
    assert (pushed["pushed"], pushed["drifts"], pushed["fixed"]) == (0, 100, 100), pushed
    assert requests.get(url, timeout=10).json()["stores"]["29573"]["inventory"] == first

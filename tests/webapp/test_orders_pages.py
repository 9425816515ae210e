"""The orders pages: list, search, filters, pages, detail, escaping, and the new-orders bell."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tests.webapp.conftest import logged_in
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import MarketplaceProduct, Order, OrderItem, OrderStatusHistory, Product, User
from webapp.models.base import utcnow

HOSTILE = "<script>alert('pwn')</script>"
HX = {"HX-Request": "true"}


def make_account(store, name="Lengow Menzzo", account_id="5622"):
    return create_account(
        store,
        "lengow",
        name,
        settings={"account_id": account_id},
        secrets={"access_token": "tok-" + account_id, "secret": "sec-" + account_id},
        live=True,
    )


def make_order(account, number, *, channel="amazon_fr", status="confirmed", **fields):
    order = Order(
        store_id=account.store_id,
        account_id=account.id,
        channel=channel,
        channel_order_id=number,
        marketplace_status=fields.pop("marketplace_status", "waiting_shipment"),
        status=status,
        customer_name=fields.pop("customer_name", f"Customer {number}"),
        customer_email=fields.pop("customer_email", f"c{number}@example.test"),
        total=Decimal("229.00"),
        currency="EUR",
        ordered_at=fields.pop("ordered_at", datetime(2026, 11, 20, 10, 0)),
        raw=fields.pop("raw", {"marketplace_order_id": number}),
        **fields,
    )
    db.session.add(order)
    db.session.flush()
    return order


@pytest.fixture
def book(app, store):
    """Two accounts, five orders across channels, one with lines and history."""
    lengow = make_account(store)
    letz = create_account(store, "letzshop", "Letzshop", secrets={"api_token": "letz-secret-1"})
    orders = [
        make_order(lengow, "AMZ-1", ordered_at=datetime(2026, 11, 1, 9)),
        make_order(lengow, "AMZ-2", status="shipped", ordered_at=datetime(2026, 11, 10, 9)),
        make_order(lengow, "CD-1", channel="cdiscount", ordered_at=datetime(2026, 11, 15, 9)),
        make_order(letz, "LZ-1", channel="letzshop", customer_name="Marie Dupont"),
        make_order(letz, "LZ-2", channel="letzshop", status="cancelled"),
    ]
    target = orders[0]
    target.original_total = Decimal("199.50")
    target.original_currency = "GBP"
    target.billing_address = {"full_name": "Jean Billing", "city": "Esch"}
    target.shipping_address = {"full_name": "Jean Shipping", "city": "Luxembourg"}
    source = MarketplaceProduct(
        store_id=store.id, marketplace="Letzshop", marketplace_product_id="SKU-OK", content_hash=1
    )
    db.session.add(source)
    db.session.flush()
    product = Product(store_id=store.id, marketplace_product_id=source.id)
    db.session.add(product)
    db.session.flush()
    db.session.add_all(
        [
            OrderItem(
                order_id=target.id,
                sku="SKU-OK",
                product_name="Oak table",
                quantity=2,
                unit_price=Decimal("100"),
                total=Decimal("200"),
                matched=True,
                product_id=product.id,
            ),
            OrderItem(
                order_id=target.id,
                sku="SKU-LOST",
                product_name="Mystery",
                quantity=1,
                unit_price=Decimal("29"),
                matched=False,
            ),
            OrderStatusHistory(order_id=target.id, from_status=None, to_status="pending"),
            OrderStatusHistory(order_id=target.id, from_status="pending", to_status="confirmed"),
        ]
    )
    db.session.commit()
    return {"lengow": lengow, "letzshop": letz, "orders": orders}


def ids_in(html: str) -> list[str]:
    return re.findall(r'id="order-(\d+)"', html)


def test_list_shows_the_store_orders_newest_first(store_client, book):
    page = store_client.get("/store/acme/orders")
    assert page.status_code == 200
    expected = [str(o.id) for o in reversed(book["orders"])]
    assert ids_in(page.text) == expected
    assert "AMZ-1" in page.text and "229.00 EUR" in page.text
    assert 'href="/store/acme/orders"' in page.text  # the navigation links the orders


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("channel=cdiscount", ["CD-1"]),
        ("status=shipped", ["AMZ-2"]),
        ("q=amz", ["AMZ-2", "AMZ-1"]),
        ("q=marie+dup", ["LZ-1"]),
        ("q=CLZ-2%40example", ["LZ-2"]),
        ("q=SKU-LOST", ["AMZ-1"]),
        ("from=2026-11-09&to=2026-11-15", ["CD-1", "AMZ-2"]),
        ("status=not-a-status", ["LZ-2", "LZ-1", "CD-1", "AMZ-2", "AMZ-1"]),
    ],
)
def test_search_and_filters(store_client, book, query, expected):
    page = store_client.get(f"/store/acme/orders?{query}")
    by_id = {str(o.id): o.channel_order_id for o in book["orders"]}
    assert [by_id[i] for i in ids_in(page.text)] == expected


def test_account_filter_and_our_order_id(store_client, book):
    letz = book["letzshop"]
    page = store_client.get(f"/store/acme/orders?account={letz.id}")
    assert len(ids_in(page.text)) == 2
    target = book["orders"][2]
    page = store_client.get(f"/store/acme/orders?q=%23{target.id}")
    assert ids_in(page.text) == [str(target.id)]


def test_filter_fragment_replaces_the_url_and_full_page_otherwise(store_client, book):
    fragment = store_client.get("/store/acme/orders/table?channel=letzshop&q=", headers=HX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="orders"' in fragment.text
    assert fragment.headers["HX-Replace-Url"] == "/store/acme/orders?channel=letzshop"
    assert "HX-Request" in fragment.headers["Vary"]
    assert len(ids_in(fragment.text)) == 2
    plain = store_client.get("/store/acme/orders/table?channel=letzshop")
    assert plain.status_code == 302 and plain.location.endswith("/orders?channel=letzshop")


def test_pagination_walks_every_order_once(app, store_client, store):
    account = make_account(store)
    for n in range(60):
        make_order(account, f"P-{n}")
    db.session.commit()
    seen = []
    for number in (1, 2, 3):
        page = store_client.get(f"/store/acme/orders?page={number}")
        seen += ids_in(page.text)
    assert len(seen) == 60 and len(set(seen)) == 60
    assert seen == sorted(seen, key=int, reverse=True)
    page = store_client.get("/store/acme/orders?page=2")
    assert "Page 2 of 3" in page.text and "60 in all" in page.text
    fragment = store_client.get("/store/acme/orders/table?page=3", headers=HX)
    assert fragment.headers["HX-Replace-Url"] == "/store/acme/orders?page=3"
    assert len(ids_in(fragment.text)) == 10


def test_detail_shows_lines_addresses_amounts_history_ack_and_payload(store_client, book):
    order = book["orders"][0]
    order.acknowledged_at = datetime(2026, 11, 20, 11, 5)
    order.merchant_order_id = str(order.id)
    db.session.commit()
    page = store_client.get(f"/store/acme/orders/{order.id}")
    assert page.status_code == 200
    text = page.text
    assert "SKU-OK" in text and "Oak table" in text and "100.00 EUR" in text
    assert "unknown SKU" in text and text.count("unknown SKU") == 1
    assert "Jean Billing" in text and "Jean Shipping" in text
    assert "229.00 EUR" in text and "199.50 GBP" in text
    assert "merchant order id " + str(order.id) in text and "20 Nov 2026 11:05" in text
    assert "waiting_shipment" in text and "confirmed" in text
    assert re.search(r"<td>pending</td>\s*<td>confirmed</td>", text)
    assert "<details" in text and "&#34;marketplace_order_id&#34;: &#34;AMZ-1&#34;" in text


def test_detail_without_ack_says_so(store_client, book):
    page = store_client.get(f"/store/acme/orders/{book['orders'][1].id}")
    assert "Not yet" in page.text
    letzshop_order = book["orders"][3]  # Letzshop is never told our order id
    page = store_client.get(f"/store/acme/orders/{letzshop_order.id}")
    assert "Not needed" in page.text and "Not yet" not in page.text
    listing = store_client.get("/store/acme/orders").text
    row = re.search(rf'id="order-{letzshop_order.id}".*?</tr>', listing, re.S).group(0)
    assert "pending" not in row
    row = re.search(rf'id="order-{book["orders"][1].id}".*?</tr>', listing, re.S).group(0)
    assert 'class="ack-pending"' in row


def test_hostile_text_is_escaped_everywhere(store_client, store):
    account = make_account(store)
    order = make_order(
        account,
        "X-1",
        customer_name=HOSTILE,
        raw={"note": HOSTILE, "nested": {"evil": "</code></pre><img src=x onerror=alert(1)>"}},
        shipping_address={"city": HOSTILE},
        channel_order_url="javascript:alert(1)",
    )
    db.session.add(OrderItem(order_id=order.id, sku=HOSTILE, product_name=HOSTILE, quantity=1))
    db.session.commit()
    for url in ("/store/acme/orders", f"/store/acme/orders/{order.id}", "/store/acme/orders?q=x"):
        body = store_client.get(url).text
        assert HOSTILE not in body and "<img src=x" not in body
    body = store_client.get(f"/store/acme/orders/{order.id}").text
    assert "&lt;script&gt;alert(&#39;pwn&#39;)&lt;/script&gt;" in body
    assert "javascript:" not in body  # a marketplace link that is no web address is not a link
    order.channel_order_url = "https://www.amazon.fr/orders/X-1"
    db.session.commit()
    body = store_client.get(f"/store/acme/orders/{order.id}").text
    assert 'href="https://www.amazon.fr/orders/X-1"' in body


def test_other_stores_orders_are_invisible(store_client, other_store, book):
    theirs = make_account(other_store, "Theirs", "6395")
    foreign = make_order(theirs, "THEIRS-1", channel="manomano_fr")
    db.session.commit()
    assert store_client.get(f"/store/acme/orders/{foreign.id}").status_code == 404
    assert store_client.get("/store/globex/orders").status_code == 404
    page = store_client.get(f"/store/acme/orders?account={theirs.id}")
    assert ids_in(page.text) == []
    assert "THEIRS-1" not in store_client.get("/store/acme/orders?q=THEIRS").text
    assert "manomano_fr" not in store_client.get("/store/acme/orders").text


def test_admin_sees_any_store_orders(admin_client, book):
    assert admin_client.get("/store/acme/orders").status_code == 200
    order = book["orders"][0]
    assert admin_client.get(f"/store/acme/orders/{order.id}").status_code == 200


def test_retired_accounts_leave_the_filter_but_their_orders_stay(store_client, book):
    letz = book["letzshop"]
    letz.retire()
    db.session.commit()
    page = store_client.get("/store/acme/orders")
    assert f'<option value="{letz.id}"' not in page.text
    assert len(ids_in(page.text)) == 5


# -- the bell ------------------------------------------------------------------------------


def bell(client) -> str:
    response = client.get("/store/acme/orders/bell", headers=HX)
    assert response.status_code == 200
    return re.search(r'data-count="(\d*)"', response.text).group(1)


def test_bell_counts_orders_since_the_user_last_looked(app, store, store_user, book):
    client = logged_in(app, store_user.email)
    assert bell(client) == "5"  # never looked: every order is new
    top = client.get("/store/acme/marketplace").text
    assert 'id="bell-orders"' in top and 'hx-trigger="load"' in top
    client.get("/store/acme/orders")
    assert bell(client) == "0"
    make_order(book["lengow"], "NEW-1")
    make_order(book["lengow"], "NEW-2")
    db.session.commit()
    fragment = client.get("/store/acme/orders/bell", headers=HX).text
    assert 'data-count="2"' in fragment and 'class="bell-badge">2<' in fragment
    assert 'hx-trigger="every 60s"' in fragment and 'href="/store/acme/orders"' in fragment
    assert client.get("/store/acme/orders/bell").status_code == 302  # not htmx: the page


def test_bell_is_per_user_and_per_store(app, store, other_store, store_user, book):
    colleague = User(email="colleague@acme.test", store_id=store.id)
    colleague.set_password("password123")
    db.session.add(colleague)
    db.session.commit()
    mine = logged_in(app, store_user.email)
    mine.get("/store/acme/orders")
    theirs_account = make_account(other_store, "Globex", "6395")
    make_order(theirs_account, "G-1")
    db.session.commit()
    assert bell(mine) == "0"  # another store's new order never lights this bell
    assert bell(logged_in(app, colleague.email)) == "5"  # the colleague has not looked
    db.session.refresh(store_user)
    assert store_user.orders_seen_at is not None and store_user.orders_seen_at <= utcnow()


def test_bell_caps_its_count(app, store, store_user):
    account = make_account(store)
    for n in range(105):
        make_order(account, f"B-{n}")
    store_user.orders_seen_at = utcnow() - timedelta(days=1)
    db.session.commit()
    fragment = logged_in(app, store_user.email).get("/store/acme/orders/bell", headers=HX).text
    assert "99+" in fragment


def test_orders_need_login(app, store):
    response = app.test_client().get("/store/acme/orders")
    assert response.status_code == 302 and "/login" in response.location

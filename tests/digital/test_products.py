"""A store's own products made digital: by a feed column, on the product page, by the CLI."""

from __future__ import annotations

import json

from tests.digital.helpers import book, channel_account, lines_of, product, unified
from tests.imports.helpers import import_file, products, write
from tests.webapp.conftest import csrf_from
from webapp.catalog.publishing import publish_many
from webapp.extensions import db
from webapp.models import MarketplaceProduct


def test_a_feed_column_makes_products_digital_and_their_lines_digital(app, store, tmp_path):
    feed = write(
        tmp_path,
        "keys.csv",
        "id,title,price,is_digital,product_type\n"
        "KEY-1,Game key,9.99 EUR,true,\n"
        "LIC-1,Licence,19.99 EUR,,digital\n"
        "MUG-1,Mug,5.00 EUR,false,Kitchen > Mugs\n",
    )
    run = import_file(store, feed)
    assert run.imported_count == 3, run.error_message
    got = products(store)
    assert got["KEY-1"].extra["is_digital"] == "true"
    assert got["LIC-1"].extra["product_type"] == "digital"
    publish_many(store, [str(p.id) for p in got.values()])
    (order_id,) = book(
        channel_account(store), [unified("I-1", [("KEY-1", 1), ("LIC-1", 1), ("MUG-1", 1)])]
    )
    assert [ln.is_digital for ln in lines_of(order_id)] == [True, True, False]


def test_the_product_page_and_the_cli_switch_a_product(app, store, store_client):
    mug = product(store, "MUG")
    page = store_client.get(f"/store/acme/products/{mug.id}")
    assert "Make digital" in page.text
    answer = store_client.post(
        f"/store/acme/products/{mug.id}/digital",
        data={"digital": "1", "csrf_token": csrf_from(page.text)},
    )
    assert answer.status_code == 302
    db.session.expire_all()
    assert db.session.get(MarketplaceProduct, mug.id).extra["is_digital"] == "true"
    (order_id,) = book(channel_account(store), [unified("G-1", [("MUG", 1)])])
    assert lines_of(order_id)[0].key_state == "pending"

    result = app.test_cli_runner().invoke(args=["products", "digital", str(mug.id), "--off"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[-1]) == {
        "product_id": mug.id,
        "sku": "MUG",
        "digital": False,
    }
    supplier = product(store, "cw-1", marketplace="codeswholesale")
    refused = app.test_cli_runner().invoke(args=["products", "digital", str(supplier.id), "--off"])
    assert refused.exit_code == 1 and "always digital" in refused.output

"""``flask orders fulfil-digital`` and the export's digital fields (never a key)."""

from __future__ import annotations

import json

from tests.digital.helpers import (
    book,
    channel_account,
    keys_of,
    lines_of,
    pool_keys,
    product,
    unified,
)
from webapp.keys import codes


def cli(app, *args):
    return app.test_cli_runner().invoke(args=[str(a) for a in args])


def test_fulfil_digital_prints_the_lines_with_masked_keys(app, store):
    account = channel_account(store)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    product(store, "MUG")
    pool_keys(store, "OWN-KEY", 1)
    # Two keys wanted, one in the pool: the line waits (nothing e-mailed), in the inbox.
    (order_id,) = book(account, [unified("F-1", [("OWN-KEY", 2), ("MUG", 1)])])
    result = cli(app, "orders", "fulfil-digital", order_id)
    assert result.exit_code == 0, result.output
    *lines, summary = [json.loads(x) for x in result.output.strip().splitlines()]
    (line,) = lines
    assert line["sku"] == "OWN-KEY" and line["key_state"] == "pending"
    (key,) = keys_of(lines_of(order_id)[0].id)
    clear = codes.open_text(key)
    assert line["keys"] == [
        {"id": key.id, "source": "pool", "type": "text", "masked": "••••" + clear[-4:]}
    ]
    assert clear not in result.output
    assert summary["order_id"] == order_id and summary["key_states"] == ["pending"]
    assert summary["from_pool"] == 1 and summary["missing"] == 1 and summary["run_id"]

    export = cli(app, "orders", "export", "--store", store.code)
    (record,) = [json.loads(x) for x in export.output.strip().splitlines()]
    items = {i["sku"]: (i["digital"], i["key_state"]) for i in record["items"]}
    assert items == {"OWN-KEY": (True, "pending"), "MUG": (False, "none")}
    assert clear not in export.output


def test_fulfil_digital_refuses_what_it_cannot_fulfil(app, store):
    account = channel_account(store)
    product(store, "MUG")
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    physical, waiting = book(
        account,
        [unified("F-2", [("MUG", 1)]), unified("F-3", [("OWN-KEY", 1)], status="pending")],
    )
    none = cli(app, "orders", "fulfil-digital", physical)
    assert none.exit_code == 1 and "has no digital line" in none.output
    early = cli(app, "orders", "fulfil-digital", waiting)
    assert early.exit_code == 1 and "not valid for fulfilment" in early.output
    missing = cli(app, "orders", "fulfil-digital", 999999)
    assert missing.exit_code == 1 and "No order with id 999999" in missing.output


def test_the_api_fulfils_an_order_and_never_shows_a_key(app, store, store_user, other_store):
    from webapp.extensions import db
    from webapp.models import ApiToken

    account = channel_account(store)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    product(store, "MUG")
    pool_keys(store, "OWN-KEY", 1)
    order_id, physical = book(
        account,
        [unified("A-1", [("OWN-KEY", 2)]), unified("A-2", [("MUG", 1)])],
    )
    _row, token = ApiToken.issue(store_user, "mine")
    db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/store/orders/{order_id}/digital-fulfilment"
    answer = client.post(url, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.get_json()
    (line,) = body["lines"]
    assert line["key_state"] == "pending" and len(line["keys"]) == 1
    assert body["from_pool"] == 1 and body["missing"] == 1 and body["run_id"]
    (key,) = keys_of(lines_of(order_id)[0].id)
    assert codes.open_text(key) not in answer.text
    refused = client.post(f"/api/v1/store/orders/{physical}/digital-fulfilment", headers=headers)
    assert refused.status_code == 422 and "no digital line" in refused.text
    # Another store's token: no such order.
    from tests.webapp.conftest import make_user

    theirs, their_token = ApiToken.issue(make_user("o@example.com", store=other_store), "theirs")
    db.session.commit()
    foreign = client.post(url, headers={"Authorization": f"Bearer {their_token}"})
    assert foreign.status_code == 404
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "post" in spec["paths"]["/store/orders/{order_id}/digital-fulfilment"]

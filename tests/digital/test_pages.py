"""The order page's digital keys: masked, revealed one at a time by a POST (CSRF) that
records who and when, only for the store's own orders."""

from __future__ import annotations

from sqlalchemy import select

from tests.digital.helpers import (
    book,
    channel_account,
    keys_of,
    lines_of,
    pool_keys,
    product,
    unified,
)
from tests.webapp.conftest import csrf_from
from webapp.digital import fulfil
from webapp.extensions import db
from webapp.keys import codes
from webapp.models import DigitalKeyReveal


def test_the_order_page_masks_keys_and_a_reveal_is_recorded(app, store, store_client, store_user):
    account = channel_account(store)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    pool_keys(store, "OWN-KEY", 2)
    (order_id,) = book(account, [unified("K-1", [("OWN-KEY", 2)])])
    fulfil.assign_keys(fulfil_run(account), [order_id])
    first, second = keys_of(lines_of(order_id)[0].id)
    clear = codes.open_text(first)

    page = store_client.get(f"/store/acme/orders/{order_id}")
    assert page.status_code == 200
    html = page.text
    assert 'id="digital-keys"' in html and 'data-key-state="assigned"' in html
    assert "••••" + clear[-4:] in html and clear not in html
    csrf = csrf_from(html)

    no_token = store_client.post(
        f"/store/acme/orders/{order_id}/keys/reveal", data={"key_id": first.id}
    )
    assert no_token.status_code == 400 and clear not in no_token.text
    shown = store_client.post(
        f"/store/acme/orders/{order_id}/keys/reveal",
        data={"key_id": first.id, "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert shown.status_code == 200 and clear in shown.text
    assert codes.open_text(second) not in shown.text  # one key, not the order's keys
    (reveal,) = db.session.scalars(select(DigitalKeyReveal)).all()
    assert reveal.key_id == first.id and reveal.user_id == store_user.id
    assert reveal.revealed_by == store_user.email and store_user.email in shown.text


def test_another_stores_key_is_never_revealed(app, store, other_store, other_client):
    account = channel_account(store)
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    pool_keys(store, "OWN-KEY", 1)
    (order_id,) = book(account, [unified("K-2", [("OWN-KEY", 1)])])
    fulfil.assign_keys(fulfil_run(account), [order_id])
    (key,) = keys_of(lines_of(order_id)[0].id)
    csrf = csrf_from(other_client.get(f"/store/{other_store.code}/marketplace").text)
    for url in (
        f"/store/acme/orders/{order_id}/keys/reveal",
        f"/store/{other_store.code}/orders/{order_id}/keys/reveal",
    ):
        answer = other_client.post(url, data={"key_id": key.id, "csrf_token": csrf})
        assert answer.status_code == 404
        assert codes.open_text(key) not in answer.text
    assert db.session.scalars(select(DigitalKeyReveal)).all() == []


def fulfil_run(account):
    from tests.digital.helpers import run_for

    return run_for(account)

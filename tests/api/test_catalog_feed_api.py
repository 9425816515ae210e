"""The catalog feed over the API: GET /api/v1/store/accounts/{id}/catalog-feed and POST
.../rotate, each store's own (404 for another's), the token masked for an administrator;
every answer checked against the OpenAPI document by the test client."""

from __future__ import annotations

from webapp import catalogfeed
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import Account


def test_feed_urls_fetches_rotate_and_isolation(app, store, other_store, shop, rival, admin):
    account = create_account(store, "letzshop", "Letzshop LU", secrets={"api_token": "t"})
    theirs = create_account(other_store, "letzshop", "Globex LU", secrets={"api_token": "u"})
    path = f"/store/accounts/{account.id}/catalog-feed"

    response = shop.api.get(path)
    assert response.status_code == 200
    body = response.get_json()
    assert not body["token_masked"] and body["fetches"] == []
    csv_url = body["urls"]["csv"]
    feed_path = csv_url.split("localhost", 1)[1]
    assert app.test_client().get(feed_path).status_code == 200
    db.session.rollback()
    [fetch] = shop.api.get(path).get_json()["fetches"]
    assert fetch["status"] == 200 and fetch["format"] == "csv"

    masked = admin.api.get(path).get_json()
    assert masked["token_masked"] and catalogfeed.MASK in masked["urls"]["csv"]
    assert csv_url not in str(masked)

    # Another store's account, an unknown id, a retired account: 404, and nothing rotates.
    assert rival.api.get(path).status_code == 404
    assert rival.api.post(f"{path}/rotate", json={}).status_code == 404
    assert shop.api.get(f"/store/accounts/{theirs.id}/catalog-feed").status_code == 404
    assert shop.api.get("/store/accounts/999999/catalog-feed").status_code == 404
    assert shop.api.get(path).get_json()["urls"]["csv"] == csv_url

    rotated = shop.api.post(f"{path}/rotate", json={})
    assert rotated.status_code == 200
    new = rotated.get_json()
    assert new["urls"]["csv"] != csv_url and new["rotated_by"] == "shop@example.com"
    assert app.test_client().get(feed_path).status_code == 404
    assert app.test_client().get(new["urls"]["csv"].split("localhost", 1)[1]).status_code == 200

    db.session.get(Account, account.id).retire()
    db.session.commit()
    assert shop.api.get(path).status_code == 404
    assert shop.api.post(f"{path}/rotate", json={}).status_code == 409

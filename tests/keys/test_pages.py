"""The Key pool page: upload (CSRF, a queued run among the store's executions), levels,
threshold, keys shown masked only, deleting a key never given out; a store sees and manages
only its own pool."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import select

from tests.keys.helpers import add_keys, order_lines
from tests.webapp.conftest import csrf_from, run_worker
from webapp.extensions import db
from webapp.keys import pool
from webapp.models import Run
from webapp.models.keys import DigitalKey, KeyPoolSettings


def test_upload_levels_and_masked_keys(app, store, store_client):
    page = store_client.get("/store/acme/keys")
    assert page.status_code == 200 and "No keys yet" in page.text
    token = csrf_from(page.text)
    refused = store_client.post(
        "/store/acme/keys/upload",
        data={"file": (io.BytesIO(b"sku,key\nG,K\n"), "keys.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code in (302, 400)  # no CSRF token: nothing happens
    assert db.session.scalar(select(Run.id)) is None
    body = b"sku,key,expiry\nGAME-1,SECRET-KEY-0001,\nGAME-1,SECRET-KEY-0002,2001-01-01\n"
    started = store_client.post(
        "/store/acme/keys/upload",
        data={"csrf_token": token, "file": (io.BytesIO(body), "keys.csv")},
        content_type="multipart/form-data",
    )
    assert started.status_code == 302 and "/integration/executions/" in started.location
    run_worker(app)
    db.session.expire_all()
    run = db.session.scalar(select(Run))
    assert (run.kind, run.status, run.imported_count, run.error_count) == (
        "key_import",
        "completed_with_errors",
        1,
        1,
    )
    assert run.feed is not None and run.feed.kind == "import_keys"  # among the executions
    executions = store_client.get("/store/acme/integration/executions")
    assert f"#{run.id}" in executions.text or f"/executions/{run.id}" in executions.text
    detail = store_client.get(f"/store/acme/integration/executions/{run.id}")
    assert "keys added" in detail.text and "SECRET-KEY-0002" not in detail.text
    page = store_client.get("/store/acme/keys")
    assert "GAME-1" in page.text and "keys.csv" in page.text
    assert "SECRET-KEY" not in page.text and "••••0001" in page.text
    feeds = store_client.get("/store/acme/feeds")
    assert "Import digital keys" in feeds.text
    assert store_client.get(f"/store/acme/feeds/{run.feed_id}").status_code == 200
    # The uploaded file of clear keys is gone from the work directory.
    assert not list((Path(app.config["MERCATO_WORK_DIR"]) / "uploads").glob("*"))


def test_threshold_and_delete_and_another_store(
    app, store, other_store, store_client, other_client
):
    add_keys(store.id, "G", 2)
    [first, second] = db.session.scalars(select(DigitalKey.id).order_by(DigitalKey.id)).all()
    [line] = order_lines(store.id, "G", 1)
    pool.claim(store.id, sku="G", supplier_product_id=None, quantity=1, order_item_id=line)
    db.session.commit()
    page = store_client.get("/store/acme/keys")
    token = csrf_from(page.text)
    saved = store_client.post(
        "/store/acme/keys/threshold", data={"csrf_token": token, "low_threshold": "3"}
    )
    assert saved.status_code == 302
    assert db.session.get(KeyPoolSettings, store.id).low_threshold == 3
    bad = store_client.post(
        "/store/acme/keys/threshold",
        data={"csrf_token": token, "low_threshold": "-2"},
        follow_redirects=True,
    )
    assert "whole number" in bad.text
    # Another store: neither the page nor the keys.
    assert other_client.get("/store/acme/keys").status_code == 404
    theirs = other_client.get("/store/globex/keys")
    other_token = csrf_from(theirs.text)
    assert "No keys yet" in theirs.text and "••••" not in theirs.text
    assert (
        other_client.post(
            f"/store/globex/keys/{second}/delete", data={"csrf_token": other_token}
        ).status_code
        == 404
    )
    assert (
        other_client.post(
            f"/store/acme/keys/{second}/delete", data={"csrf_token": other_token}
        ).status_code
        == 404
    )
    # The key given out stays; the free one goes.
    kept = store_client.post(
        f"/store/acme/keys/{first}/delete", data={"csrf_token": token}, follow_redirects=True
    )
    assert "given to an order line" in kept.text
    assert store_client.post(
        f"/store/acme/keys/{second}/delete", data={"csrf_token": "nope"}
    ).status_code in (302, 400)
    assert db.session.get(DigitalKey, second) is not None
    gone = store_client.post(f"/store/acme/keys/{second}/delete", data={"csrf_token": token})
    assert gone.status_code == 302
    db.session.expire_all()
    assert db.session.scalars(select(DigitalKey.id)).all() == [first]

"""/api/v1/store/keys: the key pool over the API (upload, an upload's run, levels, the
threshold); every answer is checked against the OpenAPI document by the client; an upload
runs on a real RQ worker; each store sees and changes only its own pool."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.api.conftest import API
from tests.inprocess_worker import InProcessWorker
from webapp.extensions import db, queue
from webapp.models import Message
from webapp.models.keys import DigitalKey

PATH = "/store/keys"
FILE = b"sku;key\nGAME-1;API-KEY-0001\nGAME-1;API-KEY-0002\nGAME-1;API-KEY-0001\n;API-KEY-0003\n"


def work_imports() -> None:
    imports = queue("imports")
    InProcessWorker([imports], connection=imports.connection).work(burst=True)


@pytest.fixture(autouse=True)
def _no_leftover_jobs(app):
    yield
    queue("imports").empty()


def test_upload_read_the_run_and_the_levels(app, store, shop, rival, admin):
    accepted = shop.api.upload(PATH, FILE, name="keys.csv")
    assert accepted.status_code == 202, accepted.get_json()
    job_id = accepted.get_json()["job_id"]
    location = accepted.headers["Location"]
    assert location.endswith(f"{PATH}/imports/{job_id}")
    # One import of the store's keys at a time.
    busy = shop.api.upload(PATH, b"sku,key\nX,Y-1\n")
    assert busy.status_code == 409 and busy.get_json()["error"]["job_id"] == job_id
    work_imports()
    done = shop.api.get(location.split(API, 1)[1]).get_json()
    assert (done["imported"], done["duplicates"], done["errors"]) == (2, 1, 1)
    assert done["status"] == "completed_with_errors" and done["trigger"] == "api"
    assert "API-KEY" not in str(done)
    bad = [m for m in done["messages"]["items"] if m["row_number"] == 5]
    assert bad and "••••0003" in bad[0]["error_message"]
    levels = shop.api.get(PATH).get_json()
    assert levels["low_threshold"] == 5
    assert levels["items"] == [
        {"sku": "GAME-1", "supplier_product_id": None, "available": 2, "assigned": 0, "expired": 0}
    ]
    # JSON text works too.
    text = shop.api.post(PATH, json={"csv": "sku,key\nGAME-2,API-KEY-0009\n", "file_name": "t.csv"})
    assert text.status_code == 202
    work_imports()
    assert len(shop.api.get(PATH).get_json()["items"]) == 2

    # Another store: its own empty pool; ours is unknown to it, and so is our run.
    assert rival.api.get(PATH).get_json()["items"] == []
    assert rival.api.get(PATH, query_string={"store_id": store.id}).status_code == 404
    assert rival.api.get(f"{PATH}/imports/{job_id}").status_code == 404
    assert rival.api.upload(PATH, FILE, store_id=str(store.id)).status_code == 404
    assert (
        rival.api.request(
            "PUT", f"{PATH}/settings", json={"low_threshold": 0, "store_id": store.id}
        ).status_code
        == 404
    )
    # An admin names the store.
    assert admin.api.get(PATH).status_code == 404
    assert len(admin.api.get(PATH, query_string={"store_id": store.id}).get_json()["items"]) == 2
    assert db.session.scalar(select(func.count(DigitalKey.id))) == 3


def test_threshold_raises_and_closes_alerts(app, store, shop):
    shop.api.upload(PATH, FILE)
    work_imports()
    open_alerts = select(func.count(Message.id)).where(
        Message.error_type == "key_pool_low", Message.resolved_at.is_(None)
    )
    assert db.session.scalar(open_alerts) == 1  # 2 available, below the default 5
    saved = shop.api.request("PUT", f"{PATH}/settings", json={"low_threshold": 2.0})
    assert saved.status_code == 200 and saved.get_json()["low_threshold"] == 2
    assert saved.get_json()["checked_by"] is not None
    db.session.expire_all()
    assert db.session.scalar(open_alerts) == 0
    bads = ({"low_threshold": -1}, {"low_threshold": "3"}, {"low_threshold": True}, {})
    for bad in (*bads, {"low_threshold": 2.5}):
        assert shop.api.request("PUT", f"{PATH}/settings", json=bad).status_code == 422, bad
    assert shop.api.request("PUT", f"{PATH}/settings", data="x").status_code == 415


def test_refusals_create_nothing(app, store, shop):
    assert shop.api.post(PATH, json={}).status_code == 422
    assert shop.api.post(PATH, json={"csv": "sku,key\n", "extra": 1}).status_code == 422
    assert shop.api.post(PATH, json={"csv": None}).status_code == 422
    assert shop.api.get(f"{PATH}/imports/999999").status_code == 404
    assert db.session.scalar(select(func.count(DigitalKey.id))) == 0

"""POST /api/v1/store/orders/shipments/bulk and its run: every answer is checked against the
OpenAPI document by the client (tests/api/conftest.py); the run is executed by a real RQ
worker; another store's run and orders are unknown to a token."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.api.conftest import API
from tests.inprocess_worker import InProcessWorker
from tests.webapp.test_bulk_shipping_pages import letzshop, order_with, shipments_of
from webapp.extensions import db, queue
from webapp.imports import shipments
from webapp.models import Run

PATH = "/store/orders/shipments/bulk"


def work_default_queue() -> None:
    default = queue("default")
    InProcessWorker([default], connection=default.connection).work(burst=True)


@pytest.fixture(autouse=True)
def _no_leftover_jobs(app):
    yield
    queue("default").empty()


def runs_count() -> int:
    return db.session.scalar(
        select(func.count()).select_from(Run).where(Run.kind == shipments.KIND)
    )


def test_a_store_ships_its_orders_and_reads_the_run(app, store, shop, rival):
    account = letzshop(store)
    order = order_with(account, "LZ-9", [("RED-M", 2, 0, 0)])
    db.session.commit()
    content = (
        b"order,carrier,tracking_number,sku,quantity\n"
        b"LZ-9,dhl,API-1,RED-M,1\n"
        b"LZ-9,dhl,API-2,RED-M,5\n"
        b"NOPE,dhl,API-3,,\n"
    )
    accepted = shop.api.upload(PATH, content, name="api.csv")
    assert accepted.status_code == 202
    job_id = accepted.get_json()["job_id"]
    location = accepted.headers["Location"]
    assert location.endswith(f"{PATH}/{job_id}")
    pending = shop.api.get(location.split(API, 1)[1])
    assert pending.get_json()["status"] == "pending"
    work_default_queue()

    done = shop.api.get(f"{PATH}/{job_id}").get_json()
    assert done["status"] == "completed_with_errors"
    assert (done["rows"], done["shipments_recorded"], done["bad_rows"]) == (3, 1, 2)
    assert done["source_name"] == "api.csv" and done["trigger"] == "api"
    assert [m["row_number"] for m in done["messages"]["items"]] == [3, 4]
    assert "only 1 of 2 remain" in done["messages"]["items"][0]["error_message"]
    assert "no order NOPE" in done["messages"]["items"][1]["error_message"]
    paged = shop.api.get(f"{PATH}/{job_id}", query_string={"limit": 1, "page": 2})
    paged = paged.get_json()
    assert paged["messages"]["total"] == 2 and len(paged["messages"]["items"]) == 1
    db.session.expire_all()
    assert [s.tracking_number for s in shipments_of(order)] == ["API-1"]

    # Another store: the run does not exist, the orders are unknown, its store is not ours.
    assert rival.api.get(f"{PATH}/{job_id}").status_code == 404
    theirs = rival.api.upload(PATH, b"order,tracking_number\nLZ-9,RIVAL-1\n")
    assert theirs.status_code == 202
    work_default_queue()
    result = rival.api.get(f"{PATH}/{theirs.get_json()['job_id']}").get_json()
    assert result["shipments_recorded"] == 0 and result["bad_rows"] == 1
    assert "no order LZ-9 in this store" in result["messages"]["items"][0]["error_message"]
    assert shop.api.get(f"{PATH}/{theirs.get_json()['job_id']}").status_code == 404
    assert rival.api.upload(PATH, content, store_id=str(store.id)).status_code == 404
    db.session.expire_all()
    assert [s.tracking_number for s in shipments_of(order)] == ["API-1"]
    # A product import's id is not a bulk shipping run.
    assert shop.api.get(f"{PATH}/999999").status_code == 404


def test_refusals_create_nothing(app, store, shop, admin, monkeypatch):
    assert shop.api.post(PATH, data={}, content_type="multipart/form-data").status_code == 422
    assert shop.api.upload(PATH, b"").status_code == 422
    assert shop.api.upload(PATH, b"order\nX\n", colour="red").status_code == 422
    # An admin names the store.
    refused = admin.api.upload(PATH, b"order,tracking_number\nX,T\n")
    assert refused.status_code == 422 and "store_id" in refused.get_json()["error"]["message"]
    monkeypatch.setattr(shipments, "MAX_BYTES", 16)
    too_big = shop.api.upload(PATH, b"order,tracking_number\n" + b"X,T\n" * 10)
    assert too_big.status_code == 413
    assert runs_count() == 0
    monkeypatch.undo()
    started = admin.api.upload(PATH, b"order,tracking_number\nX,T\n", store_id=str(store.id))
    assert started.status_code == 202
    assert db.session.get(Run, started.get_json()["job_id"]).store_id == store.id
    assert shop.api.get(f"{PATH}/{started.get_json()['job_id']}").status_code == 200
    # The same file again while that run is pending: 409 with the run in flight.
    again = shop.api.upload(PATH, b"order,tracking_number\nX,T\n")
    assert again.status_code == 409
    assert again.get_json()["error"]["job_id"] == started.get_json()["job_id"]
    # The text in JSON is the same request; an empty text is refused.
    assert shop.api.post(PATH, json={"csv": "  "}).status_code == 422
    as_json = shop.api.post(
        PATH, json={"csv": "order,tracking_number\nX,T\n", "file_name": "j.csv"}
    )
    assert as_json.status_code == 202
    work_default_queue()
    ran = shop.api.get(f"{PATH}/{as_json.get_json()['job_id']}").get_json()
    assert ran["source_name"] == "j.csv" and ran["bad_rows"] == 1
    anonymous = shop.api.post(PATH, token=None, data={}, content_type="multipart/form-data")
    assert anonymous.status_code == 401


def test_a_long_file_name_is_kept_and_saved(app, store, shop):
    """The name on disk is shortened (255 bytes is the file system's limit); the run keeps it."""
    name = "x" * 250 + ".csv"
    accepted = shop.api.upload(PATH, b"order,tracking_number\nX,T\n", name=name)
    assert accepted.status_code == 202
    assert db.session.get(Run, accepted.get_json()["job_id"]).source_name == name

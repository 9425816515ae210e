"""Admin endpoints: start for any store, read any job, list with filters, count by status."""

from __future__ import annotations

import pytest

from tests.api.conftest import FEED_URL, add_messages, make_run, work_imports
from webapp.extensions import db
from webapp.models import Run
from webapp.models import runs as R

BASE = "/admin/marketplace-import-jobs"


def error_of(response) -> dict:
    return response.get_json()["error"]


def test_admin_starts_an_import_for_a_store(admin, store):
    response = admin.api.post(BASE, json={"store_id": store.id, "source_url": FEED_URL})
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    assert response.get_json() == {"job_id": job_id, "status": "pending"}
    assert response.headers["Location"].endswith(f"/api/v1{BASE}/{job_id}")
    run = db.session.get(Run, job_id)
    assert (run.store_id, run.user_id, run.trigger) == (store.id, admin.user.id, "api")

    job = admin.api.get(f"{BASE}/{job_id}").get_json()
    assert job["created_by"] == "admin@example.com" and job["store"]["code"] == "acme"


def test_admin_upload_runs_through_the_worker(admin, store):
    response = admin.api.upload(BASE, store_id=str(store.id), language="fr")
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    assert work_imports()
    job = admin.api.get(f"{BASE}/{job_id}").get_json()
    assert job["status"] == "completed_with_errors" and job["imported_count"] == 2
    messages = admin.api.get(f"{BASE}/{job_id}/errors").get_json()
    assert [m["error_type"] for m in messages["items"]] == ["missing_title", "parse_error"]
    only = admin.api.get(f"{BASE}/{job_id}/errors", query_string={"error_type": "parse_error"})
    assert only.get_json()["total"] == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"source_url": FEED_URL}, 422),  # no store
        ({"source_url": FEED_URL, "store_id": 424242}, 422),  # unknown store
        ({"source_url": FEED_URL, "store_id": "acme"}, 422),  # not an id
        ({"store_id": 1}, 422),  # no source
    ],
)
def test_admin_start_requires_a_valid_store(admin, store, body, status):
    response = admin.api.post(BASE, json=body)
    assert response.status_code == status
    assert db.session.query(Run).count() == 0


def test_admin_start_duplicate_is_409(admin, store):
    body = {"store_id": store.id, "source_url": FEED_URL}
    first = admin.api.post(BASE, json=body).get_json()["job_id"]
    again = admin.api.post(BASE, json=body)
    assert again.status_code == 409 and error_of(again)["job_id"] == first


def test_admin_reads_any_job_and_404_for_missing(admin, store, other_store, rival):
    theirs = make_run(other_store, rival.user)
    add_messages(theirs, (2, "error", "missing_id"))
    assert admin.api.get(f"{BASE}/{theirs.id}").get_json()["store"]["code"] == "globex"
    assert admin.api.get(f"{BASE}/{theirs.id}/errors").get_json()["total"] == 1
    assert admin.api.get(f"{BASE}/{theirs.id + 99}").status_code == 404
    assert admin.api.get(f"{BASE}/{theirs.id + 99}/errors").status_code == 404


def test_admin_list_filters(admin, shop, store, other_store):
    a = make_run(store, shop.user, status=R.COMPLETED)
    b = make_run(store, admin.user, status=R.FAILED)
    c = make_run(other_store, admin.user, status=R.COMPLETED, marketplace="Amazon")
    d = make_run(other_store, None, status=R.PENDING)

    def ids(**query) -> list[int]:
        response = admin.api.get(BASE, query_string=query)
        assert response.status_code == 200, response.get_json()
        return [job["id"] for job in response.get_json()["items"]]

    assert ids() == [d.id, c.id, b.id, a.id]
    assert ids(store_id=store.id) == [b.id, a.id]
    assert ids(status="completed") == [c.id, a.id]
    assert ids(marketplace="amazon") == [c.id]
    assert ids(marketplace="Letzshop") == [d.id, b.id, a.id]
    assert ids(created_by_me="true") == [c.id, b.id]
    assert ids(created_by_me="false") == [d.id, c.id, b.id, a.id]
    assert ids(created_by_me="1", store_id=other_store.id) == [c.id]
    assert ids(store_id=999) == []
    listing = admin.api.get(BASE, query_string={"limit": 2, "page": 2}).get_json()
    assert listing["total"] == 4 and [j["id"] for j in listing["items"]] == [b.id, a.id]


@pytest.mark.parametrize(
    "query",
    [{"status": "done"}, {"created_by_me": "maybe"}, {"store_id": "x"}, {"limit": 1000}],
)
def test_admin_list_rejects_bad_filters(admin, query):
    response = admin.api.get(BASE, query_string=query)
    assert response.status_code == 422
    assert next(iter(query)) in error_of(response)["message"]


def test_stats_count_every_status(admin, store, other_store):
    statuses = [R.PENDING, R.PROCESSING, R.PROCESSING, R.COMPLETED, R.COMPLETED]
    statuses += [R.COMPLETED, R.COMPLETED_WITH_ERRORS, R.FAILED, R.ABANDONED]
    for status in statuses:
        make_run(store, status=status)
    make_run(other_store, status=R.FAILED)
    make_run(other_store, status=R.COMPLETED, kind="order_import")  # not a product import

    stats = admin.api.get(f"{BASE}/stats").get_json()
    assert stats == {
        "total": 10,
        "pending": 1,
        "processing": 2,
        "completed": 3,
        "completed_with_errors": 1,
        "failed": 2,
        "abandoned": 1,
        "active": 3,
    }
    one = admin.api.get(f"{BASE}/stats", query_string={"store_id": other_store.id}).get_json()
    assert one["total"] == 1 and one["failed"] == 1 and one["active"] == 0
    assert admin.api.get(f"{BASE}/stats", query_string={"store_id": "x"}).status_code == 422


def test_stats_on_an_empty_platform(admin):
    stats = admin.api.get(f"{BASE}/stats").get_json()
    assert set(stats.values()) == {0}

"""Store endpoints: starting imports (JSON and upload), reading jobs and their messages,
and never seeing another store's job, whatever id is asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.api.conftest import (
    FEED_PORT,
    FEED_URL,
    add_messages,
    make_run,
    work_imports,
)
from webapp.crypto import decrypt
from webapp.extensions import db, queue
from webapp.models import MarketplaceProduct, Run
from webapp.models import runs as R

START = "/store/marketplace/import"
JOBS = "/store/marketplace/imports"
SECRET = "Sup3r-S3cret"  # noqa: S105


def run_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Run))


def error_of(response) -> dict:
    return response.get_json()["error"]


# --- starting an import ---------------------------------------------------------------------


def test_json_import_creates_and_enqueues_a_run(shop, store):
    response = shop.api.post(
        START, json={"source_url": FEED_URL, "language": "fr", "batch_size": 500}
    )
    assert response.status_code == 202
    body = response.get_json()
    assert body == {"job_id": body["job_id"], "status": "pending"}
    assert response.headers["Location"].endswith(f"/api/v1{JOBS}/{body['job_id']}")

    run = db.session.get(Run, body["job_id"])
    assert (run.store_id, run.user_id, run.trigger) == (store.id, shop.user.id, "api")
    assert (run.language, run.batch_size, run.marketplace) == ("fr", 500, "Letzshop")
    assert run.source_url == FEED_URL and run.status == R.PENDING
    assert queue("imports").job_ids == [run.rq_job_id]


def test_uploaded_feed_is_imported_by_the_worker_and_reported(shop, store):
    response = shop.api.upload(START, language="de", batch_size="100", marketplace="Letzshop")
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    pending = shop.api.get(f"{JOBS}/{job_id}").get_json()
    assert pending["status"] == "pending" and pending["source_name"] == "feed.csv"
    assert pending["source_url"] is None and pending["started_at"] is None

    assert work_imports()

    job = shop.api.get(f"{JOBS}/{job_id}").get_json()
    assert job["status"] == "completed_with_errors", job["error_message"]
    assert job["id"] == job_id and job["language"] == "de" and job["batch_size"] == 100
    assert (job["imported_count"], job["error_count"], job["total_processed"]) == (2, 2, 4)
    assert job["progress"] == 100 and job["trigger"] == "api"
    assert job["store"] == {"id": store.id, "code": "acme"}
    assert job["created_by"] == "shop@example.com"
    assert job["started_at"].endswith("Z") and job["completed_at"] and job["created_at"]
    assert isinstance(job["duration_seconds"], float)
    assert db.session.scalar(select(func.count()).select_from(MarketplaceProduct)) == 2

    messages = shop.api.get(f"{JOBS}/{job_id}/errors").get_json()
    assert messages["job_id"] == job_id and messages["total"] == 2
    assert [(m["row_number"], m["error_type"]) for m in messages["items"]] == [
        (4, "missing_title"),
        (5, "parse_error"),
    ]
    first = messages["items"][0]
    assert first["severity"] == "error" and first["identifier"] == "P3"
    assert first["row_data"]["id"] == "P3" and first["error_message"]


def test_credentials_in_the_url_are_masked_everywhere(app, shop, admin, store):
    url = f"http://shop:{SECRET}@127.0.0.1:{FEED_PORT}/private.csv"
    response = shop.api.post(START, json={"source_url": url})
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    masked = f"http://shop:***@127.0.0.1:{FEED_PORT}/private.csv"
    run = db.session.get(Run, job_id)
    assert run.source_url == masked and decrypt(run.source_secret) == url

    answers = [
        shop.api.get(f"{JOBS}/{job_id}"),
        shop.api.get(JOBS),
        admin.api.get(f"/admin/marketplace-import-jobs/{job_id}"),
        admin.api.get("/admin/marketplace-import-jobs"),
        shop.api.post(START, json={"source_url": url}),  # 409 names the job, not the URL
    ]
    assert answers[0].get_json()["source_url"] == masked
    assert answers[1].get_json()["items"][0]["source_url"] == masked
    for answer in answers:
        assert SECRET not in answer.get_data(as_text=True)
    assert SECRET not in json.dumps(app.test_client().get("/api/v1/openapi.json").get_json())


def test_refused_url_is_422_and_creates_nothing(shop):
    for url in (
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:9/feed.csv",
        "ftp://feeds.example.com/feed.csv",
        "not a url",
    ):
        response = shop.api.post(START, json={"source_url": url})
        assert response.status_code == 422, url
        assert error_of(response)["message"]
    assert run_count() == 0
    assert queue("imports").count == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"source_url": FEED_URL, "batch_size": 99}, "batch_size"),
        ({"source_url": FEED_URL, "batch_size": 5001}, "batch_size"),
        ({"source_url": FEED_URL, "batch_size": "many"}, "batch_size"),
        ({"source_url": FEED_URL, "batch_size": True}, "batch_size"),
        ({"source_url": FEED_URL, "language": "it"}, "language"),
        ({"source_url": FEED_URL, "marketplace": 7}, "marketplace"),
        ({"source_url": FEED_URL, "marketplace": "M" * 65}, "marketplace"),
        ({"source_url": 12}, "source_url"),
        ({}, "source_url"),
        ({"source_url": "  "}, "source_url"),
    ],
)
def test_invalid_values_are_422_and_create_nothing(shop, body, fragment):
    response = shop.api.post(START, json=body)
    assert response.status_code == 422
    assert fragment in error_of(response)["message"]
    assert run_count() == 0


def test_url_and_file_together_is_422(shop):
    response = shop.api.upload(START, source_url=FEED_URL)
    assert response.status_code == 422
    assert "not both" in error_of(response)["message"]
    assert run_count() == 0


def test_upload_with_bad_batch_size_is_422_and_leaves_no_file(app, shop):
    response = shop.api.upload(START, batch_size="42")
    assert response.status_code == 422
    uploads = Path(app.config["MERCATO_WORK_DIR"]) / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []
    assert shop.api.upload(START, content=b"").status_code == 422  # empty file
    assert run_count() == 0


def test_malformed_json_is_400(shop):
    for raw in ('{"source_url": ', "[1, 2]", "null", "\xff"):
        response = shop.api.post(START, data=raw, content_type="application/json")
        assert response.status_code == 400, raw
        assert error_of(response)["status"] == 400
    assert run_count() == 0


def test_other_content_types_are_415(shop):
    response = shop.api.post(START, data="source_url=x", content_type="text/plain")
    assert response.status_code == 415


def test_form_fields_without_a_file_work_too(shop):
    response = shop.api.post(START, data={"source_url": FEED_URL, "language": "de"})
    assert response.status_code == 202
    assert db.session.get(Run, response.get_json()["job_id"]).language == "de"


def test_upload_over_the_limit_is_413_and_creates_nothing(app, shop):
    app.config["MERCATO_UPLOAD_MAX_BYTES"] = 16
    response = shop.api.upload(START, content=b"id,title,price\n" + b"x" * 64)
    assert response.status_code == 413
    assert "16 bytes" in error_of(response)["message"]
    assert run_count() == 0


def test_body_over_max_content_length_is_413_json(app, shop):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    big = shop.api.upload(START, content=b"x" * 4096)
    assert big.status_code == 413 and error_of(big)["status"] == 413
    padded = shop.api.post(START, json={"source_url": FEED_URL, "pad": "x" * 4096})
    assert padded.status_code == 413
    assert run_count() == 0


def test_same_source_while_active_is_409_with_the_job_id(shop, store, other_store, admin):
    first = shop.api.post(START, json={"source_url": FEED_URL})
    job_id = first.get_json()["job_id"]

    again = shop.api.post(START, json={"source_url": FEED_URL, "language": "de"})
    assert again.status_code == 409
    assert error_of(again)["job_id"] == job_id
    assert str(job_id) in error_of(again)["message"]
    # an admin starting it for the same store is refused as well
    assert (
        admin.api.post(START, json={"source_url": FEED_URL, "store_id": store.id}).status_code
        == 409
    )
    # another source, or the same source for another store, is fine
    other = shop.api.post(START, json={"source_url": FEED_URL + "?lang=de"})
    assert other.status_code == 202
    elsewhere = admin.api.post(START, json={"source_url": FEED_URL, "store_id": other_store.id})
    assert elsewhere.status_code == 202
    assert run_count() == 3

    # once the first one finished, the same source may run again
    run = db.session.get(Run, job_id)
    run.status = R.COMPLETED
    db.session.commit()
    assert shop.api.post(START, json={"source_url": FEED_URL}).status_code == 202


def test_a_run_committed_by_a_concurrent_request_is_seen_under_the_lock(shop, store, monkeypatch):
    """Two simultaneous submissions both pass the first, unlocked check; the re-check
    under the lock catches the one that lost the race."""
    import webapp.imports.service

    real = webapp.imports.service.active_duplicate
    calls = []

    def racing(store_, source_url, upload):
        calls.append(1)
        if len(calls) == 1:
            # the concurrent request commits its run right after our first check
            make_run(store, shop.user, status=R.PENDING, source_url=FEED_URL)
            return None
        return real(store_, source_url, upload)

    monkeypatch.setattr(webapp.imports.service, "active_duplicate", racing)
    response = shop.api.post(START, json={"source_url": FEED_URL})
    assert response.status_code == 409 and len(calls) == 2
    assert run_count() == 1


def test_same_upload_name_while_active_is_409(shop):
    first = shop.api.upload(START, name="catalog.csv")
    assert first.status_code == 202
    again = shop.api.upload(START, name="catalog.csv")
    assert again.status_code == 409
    assert error_of(again)["job_id"] == first.get_json()["job_id"]
    assert shop.api.upload(START, name="other.csv").status_code == 202


def test_admin_on_the_store_endpoint_must_name_the_store(admin, store):
    missing = admin.api.post(START, json={"source_url": FEED_URL})
    assert missing.status_code == 422 and "store_id" in error_of(missing)["message"]
    unknown = admin.api.post(START, json={"source_url": FEED_URL, "store_id": 999})
    assert unknown.status_code == 422
    named = admin.api.post(START, json={"source_url": FEED_URL, "store_id": store.id})
    assert named.status_code == 202
    run = db.session.get(Run, named.get_json()["job_id"])
    assert run.store_id == store.id and run.user_id == admin.user.id


def test_a_store_user_cannot_import_into_another_store(shop, other_store):
    response = shop.api.post(START, json={"source_url": FEED_URL, "store_id": other_store.id})
    assert response.status_code == 404
    assert run_count() == 0


def test_an_inactive_store_cannot_import(shop, store):
    store.is_active = False
    db.session.commit()
    assert shop.api.post(START, json={"source_url": FEED_URL}).status_code == 422


def test_queue_down_answers_503_and_marks_the_run_failed(shop, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    import webapp.runs.lifecycle

    def refuse(name="default"):
        raise RedisConnectionError("redis is down")

    # The lock's Redis answers; the queue the lifecycle enqueues on does not.
    monkeypatch.setattr(webapp.runs.lifecycle, "queue", refuse)
    response = shop.api.upload(START)
    assert response.status_code == 503
    run = db.session.get(Run, error_of(response)["job_id"])
    assert run.status == R.FAILED and "queued" in run.error_message
    assert run.completed_at is not None
    assert not Path(run.source_path).exists()  # the upload is not left behind


# --- reading jobs ---------------------------------------------------------------------------


def test_list_is_newest_first_paginated_and_only_my_store(shop, store, other_store):
    mine = [make_run(store, shop.user, source_url=f"https://f.example/{i}.csv") for i in range(12)]
    make_run(other_store)

    first = shop.api.get(JOBS).get_json()
    assert (first["total"], first["page"], first["limit"]) == (12, 1, 10)
    assert [j["id"] for j in first["items"]] == [r.id for r in reversed(mine)][:10]
    second = shop.api.get(JOBS, query_string={"page": 2, "limit": 10}).get_json()
    assert [j["id"] for j in second["items"]] == [mine[1].id, mine[0].id]
    small = shop.api.get(JOBS, query_string={"limit": 5, "page": 3}).get_json()
    assert [j["id"] for j in small["items"]] == [mine[1].id, mine[0].id]
    beyond = shop.api.get(JOBS, query_string={"page": 9}).get_json()
    assert beyond["items"] == [] and beyond["total"] == 12
    assert shop.api.get(JOBS, query_string={"limit": 100}).status_code == 200


@pytest.mark.parametrize(
    "query",
    [{"page": 0}, {"page": "x"}, {"limit": 0}, {"limit": 101}, {"limit": "-1"}, {"page": "1.5"}],
)
def test_bad_pagination_is_422(shop, query):
    response = shop.api.get(JOBS, query_string=query)
    assert response.status_code == 422
    assert next(iter(query)) in error_of(response)["message"]


def test_every_store_endpoint_answers_404_for_another_stores_job(shop, rival, other_store):
    theirs = make_run(other_store, rival.user, status=R.COMPLETED_WITH_ERRORS)
    add_messages(theirs, (2, "error", "missing_title"))
    for path in (f"{JOBS}/{theirs.id}", f"{JOBS}/{theirs.id}/errors"):
        response = shop.api.get(path)
        assert response.status_code == 404, path
        missing = shop.api.get(path.replace(str(theirs.id), str(theirs.id + 1000)))
        # same answer as an id that does not exist: nothing to probe
        assert response.get_json() == missing.get_json()
    assert theirs.id not in [j["id"] for j in shop.api.get(JOBS).get_json()["items"]]
    # the owner sees it
    assert rival.api.get(f"{JOBS}/{theirs.id}").status_code == 200
    assert rival.api.get(f"{JOBS}/{theirs.id}/errors").get_json()["total"] == 1


def test_admins_read_any_store_through_the_store_endpoints(admin, store, other_store):
    a, b = make_run(store), make_run(other_store)
    assert admin.api.get(f"{JOBS}/{b.id}").get_json()["store"]["code"] == "globex"
    assert [j["id"] for j in admin.api.get(JOBS).get_json()["items"]] == [b.id, a.id]


def test_other_kinds_of_runs_are_not_import_jobs(shop, store):
    other = make_run(store, kind="order_import")
    assert shop.api.get(f"{JOBS}/{other.id}").status_code == 404
    assert shop.api.get(JOBS).get_json()["total"] == 0


def test_job_fields_of_a_pending_run(shop, store):
    run = make_run(store, None, status=R.PENDING, source_url=None, source_name="f.xml")
    job = shop.api.get(f"{JOBS}/{run.id}").get_json()
    assert job["created_by"] is None and job["source_name"] == "f.xml"
    assert job["duration_seconds"] is None and job["phase"] is None


# --- messages -------------------------------------------------------------------------------


def test_messages_are_ordered_filtered_and_paginated(shop, store):
    run = make_run(store, shop.user, status=R.COMPLETED_WITH_ERRORS)
    add_messages(
        run,
        (9, "warning", "validation_error"),
        (None, "error", "parse_error"),
        (3, "error", "missing_title"),
        (3, "warning", "validation_error"),
        (7, "error", "missing_id"),
    )
    path = f"{JOBS}/{run.id}/errors"
    everything = shop.api.get(path).get_json()
    assert everything["total"] == 5 and everything["limit"] == 50
    rows = [(m["row_number"], m["error_type"]) for m in everything["items"]]
    assert rows == [
        (3, "missing_title"),
        (3, "validation_error"),
        (7, "missing_id"),
        (9, "validation_error"),
        (None, "parse_error"),
    ]
    warnings = shop.api.get(path, query_string={"severity": "warning"}).get_json()
    assert [m["row_number"] for m in warnings["items"]] == [3, 9] and warnings["total"] == 2
    typed = shop.api.get(path, query_string={"error_type": "missing_id"}).get_json()
    assert [m["row_number"] for m in typed["items"]] == [7]
    both = shop.api.get(path, query_string={"error_type": "validation_error", "severity": "error"})
    assert both.get_json()["total"] == 0
    page = shop.api.get(path, query_string={"limit": 2, "page": 2}).get_json()
    assert [m["row_number"] for m in page["items"]] == [7, 9] and page["total"] == 5
    assert shop.api.get(path, query_string={"severity": "fatal"}).status_code == 422
    assert shop.api.get(path, query_string={"limit": 500}).status_code == 422

"""The OpenAPI document states the limits the routes enforce, and the routes enforce them:
every number parameter has its range in the document, the largest value is taken and the
next one refused; empty typed values are refused; no text reaches the database with a NUL."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from tests.api.conftest import API, FEED_URL, documented_path
from tests.api.schema import resolve
from webapp.api.openapi import DOCUMENT
from webapp.extensions import db
from webapp.ids import MAX_ID
from webapp.models import Run
from webapp.pagination import MAX_PAGE

JOBS = "/store/marketplace/imports"
ADMIN = "/admin/marketplace-import-jobs"


def _integer_parameters():
    """(path template, method, parameter) for every integer parameter of the document."""
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                parameter = resolve(DOCUMENT, parameter)
                if parameter["schema"].get("type") == "integer":
                    yield path, method, parameter


def test_every_number_parameter_states_its_range():
    found = list(_integer_parameters())
    assert len(found) >= 10
    for path, method, parameter in found:
        schema = parameter["schema"]
        assert "minimum" in schema and "maximum" in schema, (path, method, parameter["name"])
    ranges = {p["name"]: (p["schema"]["minimum"], p["schema"]["maximum"]) for *_, p in found}
    assert ranges["page"] == (1, MAX_PAGE) and ranges["job_id"] == (1, MAX_ID)
    assert ranges["store_id"] == (1, MAX_ID) and ranges["limit"] == (1, 100)


def _ask(api, path: str, parameter: dict, value, job_id: int, feed_id: int = 1):
    path = path.replace("{feed_id}", str(feed_id)) if parameter["name"] != "feed_id" else path
    if parameter["in"] == "path":
        return api.get(path.replace("{" + parameter["name"] + "}", str(value)))
    return api.get(path.replace("{job_id}", str(job_id)), query_string={parameter["name"]: value})


def test_each_routes_takes_its_documented_largest_value_and_refuses_the_next(admin, store):
    from webapp.feeds.defaults import ensure_store_feeds

    [feed] = ensure_store_feeds(store)  # a feed's executions: this run is one of them
    db.session.flush()
    run = Run(store_id=store.id, status="completed", source_url="https://x/f.csv", feed_id=feed.id)
    db.session.add(run)
    db.session.commit()
    for path, method, parameter in _integer_parameters():
        if method != "get":
            continue
        schema = parameter["schema"]
        largest, beyond = schema["maximum"], schema["maximum"] + 1
        ok = _ask(admin.api, path, parameter, largest, run.id, feed.id)
        assert ok.status_code in (200, 404), (path, parameter["name"], ok.status_code)
        refused = _ask(admin.api, path, parameter, beyond, run.id, feed.id)
        expected = 404 if parameter["in"] == "path" else 422  # an id beyond: no such job
        assert refused.status_code == expected, (path, parameter["name"], refused.get_json())
        if expected == 422:
            assert (
                f"between {schema['minimum']} and {largest}"
                in refused.get_json()["error"]["message"]
            )
        far = _ask(admin.api, path, parameter, "9" * 5000, run.id, feed.id)
        assert far.status_code == expected, (path, parameter["name"])


def test_the_deepest_page_and_the_largest_store_id_are_answered(admin, shop):
    deepest = shop.api.get(JOBS, query_string={"page": MAX_PAGE, "limit": 100})
    assert deepest.status_code == 200 and deepest.get_json()["items"] == []
    assert shop.api.get(JOBS, query_string={"page": 1234567890}).status_code == 422
    for url in (ADMIN, f"{ADMIN}/stats"):
        response = admin.api.get(url, query_string={"store_id": MAX_ID})
        assert response.status_code == 200  # a store nobody has: nothing to count
    assert (
        admin.api.get(f"{ADMIN}/stats", query_string={"store_id": 3312163415522}).status_code == 422
    )


@pytest.mark.parametrize(
    ("url", "name"),
    [
        (f"{JOBS}?page=", "page"),
        (f"{JOBS}?limit=", "limit"),
        (f"{ADMIN}?store_id=", "store_id"),
        (f"{ADMIN}?status=", "status"),
        (f"{ADMIN}?created_by_me=", "created_by_me"),
        (f"{ADMIN}/stats?store_id=", "store_id"),
    ],
)
def test_a_typed_parameter_given_empty_is_refused(admin, url, name):
    """The document says integer, boolean or one of a list: an empty value is none of them
    (leave the parameter out for its default)."""
    response = admin.api.get(url)
    assert response.status_code == 422
    assert f"'{name}'" in response.get_json()["error"]["message"]


def test_an_empty_severity_filter_is_refused(admin, store):
    run = Run(store_id=store.id, status="completed", source_url="https://x/f.csv")
    db.session.add(run)
    db.session.commit()
    response = admin.api.get(f"{JOBS}/{run.id}/errors?severity=")
    assert response.status_code == 422


def test_text_with_a_nul_is_refused_or_cleaned_never_a_database_error(admin, shop, store):
    refused = admin.api.get(ADMIN, query_string={"marketplace": "Letz\x00shop"})
    assert refused.status_code == 422 and "NUL" in refused.get_json()["error"]["message"]
    run = Run(store_id=store.id, status="completed", source_url="https://x/f.csv")
    db.session.add(run)
    db.session.commit()
    errors = shop.api.get(f"{JOBS}/{run.id}/errors", query_string={"error_type": "a\x00"})
    assert errors.status_code == 422
    body = shop.api.post(
        "/store/marketplace/import", json={"source_url": FEED_URL, "marketplace": "L\x00"}
    )
    assert body.status_code == 422 and "'marketplace'" in body.get_json()["error"]["message"]
    upload = shop.api.post(
        "/store/marketplace/import",
        data={"file": (io.BytesIO(b"id,title,price\nA,Chair,1\n"), "fe\x00ed\x07.csv")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 202
    created = db.session.scalar(select(Run).where(Run.id == upload.get_json()["job_id"]))
    assert created.source_name == "feed.csv"


def test_a_body_store_id_beyond_the_range_is_a_422(admin):
    for store_id in (MAX_ID + 1, 10**30, 0):
        response = admin.api.post(ADMIN, json={"source_url": FEED_URL, "store_id": store_id})
        assert response.status_code == 422
        assert "between 1 and" in response.get_json()["error"]["message"]


def test_documented_path_is_what_the_tests_use():
    assert documented_path(f"{API}/x/<int:job_id>") == "/x/{job_id}"

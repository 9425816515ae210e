"""/api/v1/admin/stores: the store list with its counts, create, read and update, for admins
only. Every answer is checked against the OpenAPI document by the harness's client."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.feeds.conftest import feed_entries
from tests.webapp.admin_helpers import fill_store
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import Feed, Store

BASE = "/admin/stores"


def error_of(response) -> dict:
    return response.get_json()["error"]


def patch(person, path: str, **kwargs):
    return person.api.request("PATCH", path, **kwargs)


def store_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Store))


def test_list_with_counts_search_and_pages(admin, store, other_store):
    expected = fill_store(store, products=4, published=1, orders=2, errors=3)
    body = admin.api.get(BASE).get_json()
    assert (body["total"], body["page"], body["limit"]) == (2, 1, 50)
    acme, globex = body["items"]  # by name
    assert (acme["code"], globex["code"]) == ("acme", "globex")
    assert acme["counts"] == expected
    assert globex["counts"] == {key: 0 for key in expected}
    assert acme["is_active"] is True and acme["default_language"] == "fr"

    assert [
        s["code"] for s in admin.api.get(BASE, query_string={"q": "GLO"}).get_json()["items"]
    ] == ["globex"]
    second = admin.api.get(BASE, query_string={"limit": 1, "page": 2}).get_json()
    assert [s["code"] for s in second["items"]] == ["globex"] and second["total"] == 2
    other_store.is_active = False
    db.session.commit()
    inactive = admin.api.get(BASE, query_string={"status": "inactive"}).get_json()
    assert [s["code"] for s in inactive["items"]] == ["globex"]
    assert admin.api.get(BASE, query_string={"status": "sleeping"}).status_code == 422
    assert admin.api.get(BASE, query_string={"limit": 500}).status_code == 422


def test_create_then_read(admin):
    response = admin.api.post(
        BASE,
        json={
            "code": "acme-furniture",
            "name": "Acme Furniture",
            "default_language": "de",
            "letzshop_csv_url_de": "https://user:pw@feeds.example.com/de.csv",
        },
    )
    assert response.status_code == 201
    created = response.get_json()
    assert response.headers["Location"].endswith("/api/v1/admin/stores/acme-furniture")
    assert created["code"] == "acme-furniture" and created["is_active"] is True
    assert created["letzshop_csv_url_de"] == "https://user:***@feeds.example.com/de.csv"
    assert created["letzshop_csv_url_fr"] is None
    assert created["counts"]["products"] == 0
    store = db.session.get(Store, created["id"])
    assert store.letzshop_csv_url_de == "https://user:pw@feeds.example.com/de.csv"
    assert [f.kind for f in Feed.query.filter_by(store_id=store.id)] == ["import_products"]
    assert admin.api.get(f"{BASE}/acme-furniture").get_json() == created


def test_create_from_a_form(admin):
    response = admin.api.post(
        BASE,
        data={"code": "formed", "name": "Formed", "is_active": "false"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201
    assert response.get_json()["is_active"] is False


def test_a_taken_code_is_409_and_creates_nothing(admin, store):
    response = admin.api.post(BASE, json={"code": "acme", "name": "Second Acme"})
    assert response.status_code == 409
    error = error_of(response)
    assert error["fields"] == {"code": "A store with the code 'acme' already exists."}
    assert store_count() == 1


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"code", "name"}),
        ({"code": "Acme", "name": "A"}, {"code"}),
        ({"code": "a b", "name": "A"}, {"code"}),
        ({"code": "new", "name": "A"}, {"code"}),
        ({"code": 12, "name": "A"}, {"code"}),
        ({"code": "ok", "name": ""}, {"name"}),
        ({"code": "ok", "name": "x" * 256}, {"name"}),
        ({"code": "ok", "name": "A", "default_language": "it"}, {"default_language"}),
        ({"code": "ok", "name": "A", "is_active": "maybe"}, {"is_active"}),
        ({"code": "ok", "name": "A", "letzshop_csv_url_fr": "file:///etc/passwd"}, {"url_fr"}),
        ({"code": "ok", "name": "A", "colour": "red"}, {"_"}),
    ],
)
def test_wrong_values_are_422_with_each_field_and_create_nothing(admin, body, fields):
    response = admin.api.post(BASE, json=body)
    assert response.status_code == 422
    named = set(error_of(response)["fields"])
    assert {f.replace("url_fr", "letzshop_csv_url_fr") for f in fields} == named
    assert error_of(response)["message"]
    assert store_count() == 0


def test_a_body_that_is_not_an_object_is_400(admin):
    assert admin.api.post(BASE, json=["acme"]).status_code == 400
    response = admin.api.post(BASE, data="{not json", content_type="application/json")
    assert response.status_code == 400


def test_update_changes_only_what_is_given(app, admin, store):
    store.letzshop_csv_url_fr = "https://user:secret@feeds.example.com/fr.csv"
    db.session.commit()
    before = admin.api.get(f"{BASE}/acme").get_json()
    response = patch(admin, f"{BASE}/acme", json={"name": "Acme Home", "default_language": "en"})
    assert response.status_code == 200
    after = response.get_json()
    assert (after["name"], after["default_language"]) == ("Acme Home", "en")
    assert after["letzshop_csv_url_fr"] == before["letzshop_csv_url_fr"]
    # The whole object sent back as read (masked URL, same code) changes nothing else.
    echo = {k: v for k, v in after.items() if k not in ("id", "counts", "created_at", "updated_at")}
    assert patch(admin, f"{BASE}/acme", json=echo).status_code == 200
    db.session.rollback()
    stored = db.session.get(Store, store.id)
    assert stored.letzshop_csv_url_fr == "https://user:secret@feeds.example.com/fr.csv"
    assert patch(admin, f"{BASE}/acme", json={"letzshop_csv_url_fr": None}).status_code == 200
    db.session.rollback()
    assert db.session.get(Store, store.id).letzshop_csv_url_fr is None


def test_update_refuses_a_new_code_or_a_bad_value_and_changes_nothing(admin, store):
    # Another code is the store's state saying no (a code never changes): 409, documented.
    response = patch(admin, f"{BASE}/acme", json={"code": "acme2", "name": "Renamed"})
    assert response.status_code == 409
    assert set(error_of(response)["fields"]) == {"code"}
    # A PATCH with no body at all is refused, not taken as "change nothing".
    assert patch(admin, f"{BASE}/acme").status_code == 400
    response = patch(admin, f"{BASE}/acme", json={"name": "", "default_language": "nl"})
    assert set(error_of(response)["fields"]) == {"name", "default_language"}
    db.session.rollback()
    stored = db.session.get(Store, store.id)
    assert (stored.code, stored.name, stored.default_language) == ("acme", "Acme", "fr")


def test_switching_a_store_off_through_the_api_unschedules_its_feeds(app, admin, store):
    create_account(store, "letzshop", "L", secrets={"api_token": "t"})
    assert feed_entries(app)
    assert patch(admin, f"{BASE}/acme", json={"is_active": False}).get_json()["is_active"] is False
    assert feed_entries(app) == {}


def test_unknown_store_is_404(admin):
    assert admin.api.get(f"{BASE}/nope").status_code == 404
    assert patch(admin, f"{BASE}/nope", json={"name": "x"}).status_code == 404


def test_store_users_get_403_and_change_nothing(shop, store, other_store):
    assert shop.api.get(BASE).status_code == 403
    assert shop.api.get(f"{BASE}/acme").status_code == 403
    assert shop.api.post(BASE, json={"code": "mine", "name": "Mine"}).status_code == 403
    assert patch(shop, f"{BASE}/globex", json={"name": "Taken"}).status_code == 403
    assert store_count() == 2
    assert db.session.get(Store, other_store.id).name == "Globex"


def test_no_token_is_401(anonymous, store):
    assert anonymous.get(BASE).status_code == 401
    assert anonymous.post(BASE, json={"code": "x1", "name": "X"}).status_code == 401

"""Customers' e-mail over the API (/api/v1/store/mail): each store its own, resend one. Every
answer is checked against the OpenAPI document by the test client."""

from __future__ import annotations

from sqlalchemy import update

from tests.mail import helpers
from webapp.extensions import db, queue
from webapp.mail import queue_mail
from webapp.models import MailMessage
from webapp.models import mail as M


def seeded(store, other_store) -> tuple[int, int]:
    ours = queue_mail(
        store_id=store.id,
        account_id=None,
        kind=helpers.KIND,
        to="a@acme.test",
        subject_type="order",
        subject_id=1,
    )
    theirs = queue_mail(
        store_id=other_store.id,
        account_id=None,
        kind=helpers.KIND,
        to="b@globex.test",
        subject_type="order",
        subject_id=2,
    )
    db.session.commit()
    return ours, theirs


def test_each_store_lists_its_own_mail(shop, rival, admin, store, other_store):
    ours, theirs = seeded(store, other_store)
    body = shop.api.get("/store/mail").get_json()
    assert [m["id"] for m in body["items"]] == [ours] and body["total"] == 1
    assert body["items"][0]["to"] == "a@acme.test" and body["items"][0]["status"] == "pending"
    assert "globex" not in str(body)
    assert [m["id"] for m in rival.api.get("/store/mail").get_json()["items"]] == [theirs]
    assert shop.api.get("/store/mail", query_string={"status": "sent"}).get_json()["total"] == 0
    assert admin.api.get("/store/mail").get_json()["total"] == 2
    one = admin.api.get("/store/mail", query_string={"store_id": other_store.id}).get_json()
    assert [m["id"] for m in one["items"]] == [theirs]


def test_resend_one(shop, rival, store, other_store):
    ours, _ = seeded(store, other_store)
    assert rival.api.post(f"/store/mail/{ours}/resend", json={}).status_code == 404
    assert shop.api.post(f"/store/mail/{ours}/resend", json={}).status_code == 409  # waiting
    db.session.execute(update(MailMessage).where(MailMessage.id == ours).values(status=M.UNKNOWN))
    db.session.commit()
    before = len(queue("default"))
    response = shop.api.post(f"/store/mail/{ours}/resend", json={})
    assert response.status_code == 202
    assert response.get_json()["id"] == ours and response.get_json()["status"] == "pending"
    assert len(queue("default")) == before + 1  # a worker sends it after the commit
    db.session.execute(update(MailMessage).where(MailMessage.id == ours).values(status=M.SENT))
    db.session.commit()
    again = shop.api.post(f"/store/mail/{ours}/resend", json={}).get_json()
    assert again["id"] != ours and again["resend_no"] == 1 and again["status"] == "pending"

"""Admin self-service import and platform monitoring."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from tests.webapp.conftest import csrf_from, run_worker
from webapp.extensions import db
from webapp.models import Run


def test_admin_imports_for_any_store_and_sees_only_their_own_history(
    app, store, other_store, admin_client, store_client
):
    page = admin_client.get(f"/admin/marketplace?store_id={other_store.id}")
    assert f'<option value="{other_store.id}" selected>' in page.text
    response = admin_client.post(
        "/admin/marketplace",
        data={
            "csrf_token": csrf_from(page.text),
            "store_id": str(other_store.id),
            "language": "de",
            "batch_size": "500",
            "marketplace": "Letzshop",
            "file": (io.BytesIO(b"id,title,price\nA,B,1\n"), "globex.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    run = db.session.scalar(select(Run))
    assert (run.store_id, run.language, run.batch_size) == (other_store.id, "de", 500)
    # A store user's own import does not appear in the admin's "mine" history.
    mine = store_client.get("/store/acme/marketplace")
    store_client.post(
        "/store/acme/marketplace",
        data={
            "csrf_token": csrf_from(mine.text),
            "language": "en",
            "batch_size": "100",
            "file": (io.BytesIO(b"id,title,price\nZ,Y,1\n"), "acme.csv"),
        },
        content_type="multipart/form-data",
    )
    run_worker(app)
    history = admin_client.get("/admin/marketplace").text
    assert re.findall(r'id="run-(\d+)"', history) == [str(run.id)]
    assert "Globex" in history


def test_admin_form_errors_are_inline_and_create_nothing(admin_client, store):
    page = admin_client.get("/admin/marketplace")
    response = admin_client.post(
        "/admin/marketplace",
        data={
            "csrf_token": csrf_from(page.text),
            "store_id": "999",
            "language": "en",
            "batch_size": "1000",
            "source_url": "https://feeds.example.com/a.csv",
        },
    )
    assert response.status_code == 422 and "Not a valid choice" in response.text
    response = admin_client.post(
        "/admin/marketplace",
        data={
            "csrf_token": csrf_from(page.text),
            "store_id": str(store.id),
            "language": "en",
            "batch_size": "1000",
            "source_url": "http://10.0.0.8/feed.csv",
        },
    )
    assert response.status_code == 422 and "private" in response.text
    assert db.session.scalar(select(Run.id)) is None


def test_monitoring_totals_filters_and_polling(app, store, other_store, admin_client, admin_user):
    statuses = ["completed", "completed", "completed_with_errors", "failed", "processing"]
    for i, status in enumerate(statuses):
        db.session.add(
            Run(
                store_id=(store if i % 2 else other_store).id,
                status=status,
                marketplace="Letzshop" if i < 4 else "Amazon",
                user_id=admin_user.id if i == 0 else None,
            )
        )
    db.session.commit()
    page = admin_client.get("/admin/imports")
    totals = [int(n) for n in re.findall(r"<strong>(\d+)</strong>", page.text)[:5]]
    assert totals == [5, 1, 2, 1, 1]  # all, active, completed, with errors, failed
    assert 'hx-trigger="every 15s"' in page.text  # a job is active
    table = admin_client.get("/admin/imports/table?status=failed", headers={"HX-Request": "true"})
    assert len(re.findall(r'id="run-\d+"', table.text)) == 1
    assert table.headers["HX-Replace-Url"] == "/admin/imports?status=failed"
    mine = admin_client.get("/admin/imports?creator=me")
    assert re.findall(r'id="run-(\d+)"', mine.text) == ["1"]
    amazon = admin_client.get(f"/admin/imports?marketplace=Amazon&store_id={store.id}")
    assert len(re.findall(r'id="run-\d+"', amazon.text)) == 0
    assert (
        len(
            re.findall(
                r'id="run-\d+"', admin_client.get(f"/admin/imports?store_id={store.id}").text
            )
        )
        == 2
    )
    db.session.query(Run).filter(Run.status == "processing").update({"status": "completed"})
    db.session.commit()
    assert "every 15s" not in admin_client.get("/admin/imports").text  # nothing active


def test_store_users_get_404_on_admin_pages(store_client):
    for url in ("/admin/imports", "/admin/marketplace", "/admin/imports/table"):
        assert store_client.get(url).status_code == 404

"""The store portal: import form, history, job details, error viewer, settings, products."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

from sqlalchemy import func, select

from tests.webapp.conftest import csrf_from, run_worker
from webapp.extensions import db
from webapp.models import MarketplaceProduct, Product, Run

FEED = (
    b"id,title,price,gtin\n"
    b'A1,"<script>alert(1)</script> Chair",5,\n'
    b"A2,,3,\n"
    b"A3,Lamp,abc,\n"
    b"A4,Rug,7,123\n"
)


def upload(client, data: bytes = FEED, name: str = "feed.csv", **fields):
    page = client.get("/store/acme/marketplace")
    form = {
        "csrf_token": csrf_from(page.text),
        "language": "en",
        "batch_size": "100",
        "marketplace": "Letzshop",
        "file": (io.BytesIO(data), name),
        **fields,
    }
    return client.post("/store/acme/marketplace", data=form, content_type="multipart/form-data")


def test_upload_creates_a_pending_run_then_a_worker_completes_it(app, store_client):
    response = upload(store_client)
    assert response.status_code == 302
    run = db.session.scalar(select(Run))
    assert run.status == "pending" and run.rq_job_id and run.source_name == "feed.csv"
    page = store_client.get("/store/acme/marketplace")
    assert 'hx-trigger="every 10s"' in page.text  # polls while the run is pending
    run_worker(app)
    db.session.refresh(run)
    assert run.status == "completed_with_errors"
    assert (run.imported_count, run.error_count, run.warning_count) == (2, 2, 1)
    page = store_client.get("/store/acme/marketplace")
    assert "every 10s" not in page.text  # nothing active: the list stops polling
    assert f"#{run.id}" in page.text and "completed with errors" in page.text


def test_the_same_upload_while_it_runs_is_refused_on_the_page_as_in_the_api(app, store_client):
    """One start path for the page and the API: a double click does not start a second
    import of the same source; it says which import is in flight."""
    assert upload(store_client).status_code == 302
    first = db.session.scalar(select(Run))
    again = upload(store_client)
    assert again.status_code == 422
    assert f"Import job {first.id} of this store is already pending" in again.text
    assert db.session.scalar(select(func.count(Run.id))) == 1
    assert upload(store_client, name="other.csv").status_code == 302  # another source runs
    run_worker(app)
    assert upload(store_client).status_code == 302  # finished: the same source may run again
    assert db.session.scalar(select(func.count(Run.id))) == 3


def test_history_partial_is_a_fragment_with_vary_and_a_full_page_otherwise(store_client):
    upload(store_client)
    fragment = store_client.get("/store/acme/marketplace/history", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert (
        fragment.headers["Vary"] == "HX-Request, Cookie" or "HX-Request" in fragment.headers["Vary"]
    )
    assert fragment.text.lstrip().startswith('<div id="history"')
    assert "<html" not in fragment.text
    full = store_client.get("/store/acme/marketplace/history")
    assert full.status_code == 302 and full.headers["Location"].startswith(
        "/store/acme/marketplace"
    )


def test_history_is_newest_first_and_paginated(app, store, store_client):
    for i in range(45):
        db.session.add(Run(store_id=store.id, status="completed", source_url=f"https://x/{i}"))
    db.session.commit()
    first = store_client.get("/store/acme/marketplace")
    ids = [int(i) for i in re.findall(r'id="run-(\d+)"', first.text)]
    assert ids == sorted(ids, reverse=True) and len(ids) == 20 and ids[0] == 45
    third = store_client.get("/store/acme/marketplace?page=3")
    assert [int(i) for i in re.findall(r'id="run-(\d+)"', third.text)] == [5, 4, 3, 2, 1]
    assert "Page 3 of 3" in third.text


def test_bad_url_forbidden_address_and_missing_source_are_inline_errors(store_client):
    page = store_client.get("/store/acme/marketplace")
    token = csrf_from(page.text)
    base = {"csrf_token": token, "language": "en", "batch_size": "1000"}
    cases = [
        ({"source_url": "http://169.254.169.254/latest/meta-data"}, "link-local"),
        ({"source_url": "http://127.0.0.1:8080/feed.csv"}, "loopback"),
        ({"source_url": "ftp://example.com/feed.csv"}, "http"),
        ({}, "Enter the feed"),
        ({"source_url": "https://example.com/f.csv", "batch_size": "50"}, "between 100 and 5000"),
    ]
    for extra, expected in cases:
        response = store_client.post("/store/acme/marketplace", data={**base, **extra})
        assert response.status_code == 422, expected
        assert expected in response.text, (expected, response.text[-2000:])
    assert db.session.scalar(select(func.count(Run.id))) == 0  # a refused request creates no job


def test_upload_over_the_limit_is_refused_and_nothing_is_kept(app, store_client, tmp_path):
    app.config["MERCATO_UPLOAD_MAX_BYTES"] = 1000
    response = upload(store_client, data=b"id,title,price\n" + b"X,y,1\n" * 500)
    assert response.status_code == 422
    assert "larger than" in response.text
    assert db.session.scalar(select(func.count(Run.id))) == 0
    uploads = tmp_path / "work" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_job_page_shows_configuration_metrics_and_escaped_errors(app, store_client):
    upload(store_client, data=FEED.replace(b"A2,,3", b"<b>A2</b>,,3"))
    run_worker(app)
    run = db.session.scalar(select(Run))
    page = store_client.get(f"/store/acme/imports/{run.id}", follow_redirects=True)
    assert page.status_code == 200 and page.request.path.endswith(f"/executions/{run.id}")
    for text in ("Letzshop", "upload: feed.csv", "imported", "missing_title", "parse_error"):
        assert text in page.text
    assert "<b>A2</b>" not in page.text and "&lt;b&gt;A2&lt;/b&gt;" in page.text
    assert "Row 3" in page.text  # spreadsheet row numbers (header = row 1)


def test_error_viewer_pages_and_filters_by_type(app, store_client):
    rows = b"id,title,price\n" + b"".join(b"E%d,,1\n" % i for i in range(60)) + b"P1,Ok,bad\n"
    upload(store_client, data=rows)
    run_worker(app)
    run = db.session.scalar(select(Run))
    first = store_client.get(f"/store/acme/imports/{run.id}", follow_redirects=True)
    assert "Page 1 of 3" in first.text
    fragment = store_client.get(
        f"/store/acme/imports/{run.id}/errors?page=3", headers={"HX-Request": "true"}
    )
    assert fragment.text.lstrip().startswith('<div id="errors"') and "Page 3 of 3" in fragment.text
    only = store_client.get(
        f"/store/acme/imports/{run.id}/errors?error_type=parse_error",
        headers={"HX-Request": "true"},
    )
    assert "P1" in only.text and "E1" not in only.text and "missing_title</td>" not in only.text


def test_errors_download_as_csv_with_formula_cells_defused(app, store_client):
    upload(store_client, data=b"id,title,price\n=HYPERLINK(1),,1\nB,Ok,zz\n")
    run_worker(app)
    run = db.session.scalar(select(Run))
    response = store_client.get(f"/store/acme/imports/{run.id}/errors.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["error_type"] for r in rows] == ["missing_title", "parse_error"]
    assert rows[0]["identifier"] == "'=HYPERLINK(1)"


def test_settings_fill_quick_fill_buttons(store_client):
    page = store_client.get("/store/acme/settings")
    response = store_client.post(
        "/store/acme/settings",
        data={
            "csrf_token": csrf_from(page.text),
            "name": "Acme",
            "default_language": "de",
            "letzshop_csv_url_fr": "https://feeds.example.com/fr.csv",
            "letzshop_csv_url_en": "",
            "letzshop_csv_url_de": "https://feeds.example.com/de.csv",
        },
    )
    assert response.status_code == 302
    form = store_client.get("/store/acme/marketplace").text
    assert 'data-fill-url="https://feeds.example.com/fr.csv" data-fill-lang="fr"' in form
    assert 'data-fill-lang="de"' in form and 'data-fill-lang="en"' not in form
    bad = store_client.post(
        "/store/acme/settings",
        data={
            "csrf_token": csrf_from(page.text),
            "name": "Acme",
            "default_language": "fr",
            "letzshop_csv_url_fr": "not a url",
        },
    )
    assert bad.status_code == 422


def test_products_search_filter_and_publish_with_overrides(app, store, store_client):
    upload(
        store_client,
        data=b"id,title,price,brand,availability\n"
        b"C1,Oak chair,10,Acme,in stock\nT1,Table,20,Globex,out of stock\n",
    )
    run_worker(app)
    listing = store_client.get("/store/acme/products?q=oak")
    assert "Oak chair" in listing.text and "Table" not in listing.text
    assert "Table" in store_client.get("/store/acme/products?availability=out_of_stock").text
    assert (
        "Oak chair" not in store_client.get("/store/acme/products?availability=out_of_stock").text
    )
    assert "No product matches" in store_client.get("/store/acme/products?language=de").text
    chair = db.session.scalar(
        select(MarketplaceProduct).where(MarketplaceProduct.marketplace_product_id == "C1")
    )
    form = store_client.get(f"/store/acme/products/{chair.id}/publish")
    response = store_client.post(
        f"/store/acme/products/{chair.id}/publish",
        data={
            "csrf_token": csrf_from(form.text),
            "price": "12.50",
            "sale_price": "",
            "availability": "preorder",
            "is_active": "y",
        },
    )
    assert response.status_code == 302
    product = db.session.scalar(select(Product))
    assert (product.price, product.availability, product.is_active) == (
        Decimal("12.50"),
        "preorder",
        True,
    )
    assert product.effective_price == product.price
    listing = store_client.get("/store/acme/products")
    table = db.session.scalar(
        select(MarketplaceProduct).where(MarketplaceProduct.marketplace_product_id == "T1")
    )
    store_client.post(
        "/store/acme/products/publish",
        data={"csrf_token": csrf_from(listing.text), "product_id": [str(table.id)]},
    )
    assert db.session.scalar(select(func.count(Product.id))) == 2


def test_a_body_over_the_request_limit_is_refused_with_the_limit_on_the_form(app, store_client):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    response = upload(store_client, data=b"id,title,price\n" + b"X,y,1\n" * 2000)
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "/store/acme/marketplace"
    )
    page = store_client.get("/store/acme/marketplace")
    assert "larger than the 200 MB upload limit" in page.text
    assert db.session.scalar(select(func.count(Run.id))) == 0

"""The orders list's "to ship" filter and bulk shipping by CSV upload: the form (CSRF, size
limit, template), the run it starts (run by a real RQ worker) and its page with a message per
bad row, escaped; another store sees none of it."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.inprocess_worker import InProcessWorker
from tests.webapp.conftest import csrf_from
from tests.webapp.test_orders_pages import HOSTILE, HX, make_account, make_order
from webapp.accounts import create_account
from webapp.extensions import db, queue
from webapp.imports import shipments
from webapp.models import Message, OrderItem, Run, Shipment


def letzshop(store, name="Letzshop"):
    """A Letzshop account in test mode: shipping records a dry run and needs no marketplace."""
    return create_account(store, "letzshop", name, secrets={"api_token": "letz-secret"})


def order_with(account, number, lines, *, status="confirmed", ordered_at=None, **fields):
    """An order whose lines are (sku, quantity, shipped, cancelled)."""
    order = make_order(
        account,
        number,
        channel=fields.pop("channel", "letzshop"),
        status=status,
        ordered_at=ordered_at or datetime(2026, 11, 20, 10),
        **fields,
    )
    for index, (sku, quantity, shipped, cancelled) in enumerate(lines):
        db.session.add(
            OrderItem(
                order_id=order.id,
                channel_line_id=f"{number}-L{index + 1}",
                sku=sku,
                quantity=quantity,
                shipped_quantity=shipped,
                cancelled_quantity=cancelled,
            )
        )
    db.session.flush()
    return order


def listed(html: str) -> list[str]:
    return re.findall(
        r'<tr id="order-\d+" data-channel="[^"]*" data-status="[^"]*">\s*<td[^>]*>'
        r'<a href="[^"]*">([^<]+)</a>',
        html,
    )


def test_to_ship_lists_only_orders_with_something_left_to_ship(
    app, store, other_store, store_client
):
    account = letzshop(store)
    lengow = make_account(store)
    order_with(account, "TS-OPEN", [("A", 2, 0, 0)])
    order_with(account, "TS-HALF", [("A", 2, 1, 0)], status="processing")
    order_with(account, "TS-READY", [("A", 1, 0, 0), ("B", 1, 1, 0)], status="ready_for_shipment")
    order_with(account, "TS-DONE", [("A", 2, 2, 0)])  # confirmed but every unit has left
    order_with(account, "TS-GONE", [("A", 2, 1, 1)])  # shipped + cancelled = quantity
    order_with(account, "TS-ACCEPT", [("A", 1, 0, 0)], status="awaiting_acceptance")
    order_with(account, "TS-PENDING", [("A", 1, 0, 0)], status="pending")
    order_with(account, "TS-SHIPPED", [("A", 1, 0, 0)], status="shipped")
    order_with(account, "TS-CANCELLED", [("A", 1, 0, 0)], status="cancelled")
    order_with(account, "TS-NOLINES", [])
    make_order(lengow, "TS-AMZ", channel="amazon_fr")  # no lines: nothing to ship
    order_with(lengow, "TS-AMZ-OPEN", [("A", 1, 0, 0)], channel="amazon_fr")
    theirs = letzshop(other_store, "Theirs")
    order_with(theirs, "TS-THEIRS", [("A", 1, 0, 0)])
    db.session.commit()

    page = store_client.get("/store/acme/orders?to_ship=1")
    assert page.status_code == 200
    assert 'name="to_ship" value="1" checked' in page.text
    assert sorted(listed(page.text)) == [
        "TS-AMZ-OPEN",
        "TS-HALF",
        "TS-OPEN",
        "TS-READY",
    ]
    # It composes with the other filters, and the partial keeps it in the address.
    table = store_client.get(
        "/store/acme/orders/table?to_ship=1&channel=letzshop&status=processing", headers=HX
    )
    assert listed(table.text) == ["TS-HALF"]
    assert "to_ship=1" in table.headers["HX-Replace-Url"]
    everything = store_client.get("/store/acme/orders")
    assert len(listed(everything.text)) == 12


def test_to_ship_pages_keep_the_filter(app, store, store_client):
    account = letzshop(store)
    start = datetime(2026, 10, 1, 8)
    for n in range(30):
        order_with(account, f"P-{n:02d}", [("A", 1, 0, 0)], ordered_at=start + timedelta(hours=n))
        order_with(account, f"S-{n:02d}", [("A", 1, 1, 0)], ordered_at=start + timedelta(hours=n))
    db.session.commit()
    first = store_client.get("/store/acme/orders?to_ship=1")
    assert listed(first.text) == [f"P-{n:02d}" for n in range(29, 4, -1)]
    assert "to_ship=1&amp;page=2" in first.text or "page=2&amp;to_ship=1" in first.text
    second = store_client.get("/store/acme/orders?to_ship=1&page=2")
    assert listed(second.text) == [f"P-{n:02d}" for n in range(4, -1, -1)]


def work_default_queue() -> None:
    default = queue("default")
    InProcessWorker([default], connection=default.connection).work(burst=True)


def upload(client, content: bytes, name="shipments.csv", *, token=None):
    if token is None:
        token = csrf_from(client.get("/store/acme/orders/ship-csv").text)
    return client.post(
        "/store/acme/orders/ship-csv",
        data={"csrf_token": token, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def runs_count() -> int:
    return db.session.scalar(
        select(func.count()).select_from(Run).where(Run.kind == shipments.KIND)
    )


def test_upload_page_form_template_and_refusals(app, store, store_client, monkeypatch):
    page = store_client.get("/store/acme/orders/ship-csv")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text and "csrf_token" in page.text
    assert "Ship by CSV" in store_client.get("/store/acme/orders").text
    template = store_client.get("/store/acme/orders/ship-csv/template.csv")
    assert template.status_code == 200 and template.mimetype == "text/csv"
    assert "attachment" in template.headers["Content-Disposition"]
    header = template.text.splitlines()[0]
    assert header == "order,carrier,carrier_name,tracking_number,tracking_url,sku,quantity"

    # No CSRF token: refused, nothing started.
    refused = upload(store_client, b"order,tracking_number\nX,T\n", token="nope")
    assert refused.status_code == 400 and runs_count() == 0
    # No file, an empty file, a file over the limit: said on the form, nothing started or kept.
    token = csrf_from(page.text)
    none = store_client.post("/store/acme/orders/ship-csv", data={"csrf_token": token})
    assert none.status_code == 422 and "Choose a CSV file" in none.text
    empty = upload(store_client, b"")
    assert empty.status_code == 422 and "empty" in empty.text
    monkeypatch.setattr(shipments, "MAX_BYTES", 64)
    big = upload(store_client, b"order,tracking_number\n" + b"X,T\n" * 40)
    assert big.status_code == 422 and "larger than" in big.text
    assert runs_count() == 0
    uploads = Path(app.config["MERCATO_WORK_DIR"]) / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_upload_runs_and_its_page_shows_each_bad_row_escaped(
    app, store, store_client, other_client
):
    account = letzshop(store)
    good = order_with(account, "LZ-100", [("RED-M", 2, 0, 0), ("BLUE-L", 1, 0, 0)])
    whole = order_with(account, "LZ-200", [("RED-M", 1, 0, 0)])
    db.session.commit()
    content = (
        "order;carrier;tracking_number;sku;quantity\n"
        "LZ-100;dhl;TRK-1;RED-M;1\n"
        "LZ-100;dhl;TRK-1;BLUE-L;\n"
        f"{HOSTILE};dhl;TRK-2;;\n"
        f"#{whole.id};dhl;TRK-3;;\n"
        "LZ-200;dhl;TRK-4;RED-M;-1\n"
    ).encode("latin-1")
    response = upload(store_client, content, name="lundi.csv")
    assert response.status_code == 303
    run_id = int(response.headers["Location"].rsplit("/", 1)[1])
    run = db.session.get(Run, run_id)
    assert run.kind == "bulk_shipping" and run.status == "pending" and run.trigger == "ui"
    assert run.source_name == "lundi.csv"
    work_default_queue()
    db.session.expire_all()
    run = db.session.get(Run, run_id)
    assert run.status == "completed_with_errors"
    assert (run.imported_count, run.error_count, run.total_processed) == (2, 2, 5)
    # The uploaded copy is gone once read.
    assert db.session.get(Run, run_id).source_path
    assert not Path(run.source_path).exists()
    [parcel] = shipments_of(good)
    assert parcel.tracking_number == "TRK-1"
    assert sorted((line.order_item_id, line.quantity) for line in parcel.lines) == sorted(
        [(good.items[0].id, 1), (good.items[1].id, 1)]
    )
    assert [s.tracking_number for s in shipments_of(whole)] == ["TRK-3"]
    rows = db.session.execute(
        select(Message.row_number, Message.error_message)
        .where(Message.import_job_id == run_id)
        .order_by(Message.row_number)
    ).all()
    assert [r.row_number for r in rows] == [4, 6]

    page = store_client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Ship orders from a CSV file" in page.text
    assert "2 shipments recorded" in page.text or ">2</strong>shipments recorded" in page.text
    assert "Row 4: no order" in page.text
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
    assert "Row 6: quantity must be at least 1" in page.text
    assert "lundi.csv" in page.text
    # The upload page lists the run.
    listing = store_client.get("/store/acme/orders/ship-csv")
    assert f'id="run-{run_id}"' in listing.text
    # Another store sees neither the page's run nor the store's upload page.
    assert other_client.get(response.headers["Location"]).status_code == 404
    assert other_client.get("/store/acme/orders/ship-csv").status_code == 404
    assert other_client.get("/store/acme/orders/ship-csv/template.csv").status_code == 404
    assert f'id="run-{run_id}"' not in other_client.get("/store/globex/orders/ship-csv").text


def shipments_of(order) -> list[Shipment]:
    return list(db.session.scalars(select(Shipment).where(Shipment.order_id == order.id)))


@pytest.fixture(autouse=True)
def _no_leftover_jobs(app):
    yield
    queue("default").empty()


def test_two_workers_running_the_same_file_at_once_record_each_shipment_once(
    app, backend, store, tmp_path
):
    """Two runs of one file executed at the same moment (a file uploaded twice, two
    workers): every shipment, its quantities and its ship calls exist once."""
    if backend != "postgresql":
        pytest.skip("two concurrent runs are asserted on PostgreSQL; SQLite serialises them")
    import threading

    from webapp.models import OrderAction, OutboundCall
    from webapp.runs import lifecycle

    account = letzshop(store)
    rows = ["order,carrier,tracking_number,sku,quantity"]
    for n in range(30):
        order_with(account, f"RACE-{n}", [("RED-M", 2, 0, 0), ("BLUE-L", 1, 0, 0)])
        rows.append(f"RACE-{n},dhl,R{n}-A,RED-M,1")
        rows.append(f"RACE-{n},dhl,R{n}-A,BLUE-L,1")
        rows.append(f"RACE-{n},dhl,R{n}-B,,")  # the rest: the other RED-M
    db.session.commit()
    csv = tmp_path / "race.csv"
    csv.write_text("\n".join(rows) + "\n")
    run_ids = [shipments.create_run(store, str(csv), trigger="cli").id for _ in range(2)]
    barrier = threading.Barrier(2)
    failures: list[str] = []

    def worker(run_id: int) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                lifecycle.execute(run_id)
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    db.session.expire_all()
    runs = [db.session.get(Run, run_id) for run_id in run_ids]
    said = db.session.scalars(
        select(Message.error_message).where(Message.import_job_id.in_(run_ids))
    ).all()
    assert [r.status for r in runs] == ["completed", "completed"], said
    assert sum(r.imported_count for r in runs) == 60  # each shipment recorded by one run
    assert all(r.imported_count + r.unchanged_count == 60 for r in runs)
    assert db.session.scalar(select(func.count()).select_from(Shipment)) == 60
    items = db.session.scalars(select(OrderItem)).all()
    assert all(i.shipped_quantity == i.quantity for i in items)
    actions = db.session.scalar(select(func.count()).select_from(OrderAction))
    calls = db.session.scalar(
        select(func.count()).select_from(OutboundCall).where(OutboundCall.action == "order.ship")
    )
    assert actions == calls == 90  # two lines of parcel A, one of parcel B, per order


def test_an_order_id_two_accounts_share_asks_for_the_mercato_id(app, store, tmp_path):
    from webapp.runs import lifecycle

    first = order_with(letzshop(store, "Letzshop A"), "SAME-1", [("A", 1, 0, 0)])
    second = order_with(letzshop(store, "Letzshop B"), "SAME-1", [("A", 1, 0, 0)])
    db.session.commit()
    csv = tmp_path / "same.csv"
    csv.write_text(f"order,tracking_number\nSAME-1,T-1\n#{second.id},T-2\n")
    run = lifecycle.execute(shipments.create_run(store, str(csv), trigger="cli").id)
    assert (run.imported_count, run.error_count) == (1, 1)
    [message] = db.session.scalars(select(Message).where(Message.import_job_id == run.id))
    assert message.row_number == 2
    assert f"names 2 orders (#{first.id} (letzshop), #{second.id} (letzshop))" in (
        message.error_message
    )
    assert shipments_of(first) == [] and [s.tracking_number for s in shipments_of(second)] == [
        "T-2"
    ]
    assert csv.exists()  # a file of the command line's is the operator's: never removed

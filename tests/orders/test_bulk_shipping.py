"""Bulk shipping by CSV: a run with a message per bad row, each good shipment recorded in its
own transaction through record_shipment, against orders imported from the sandbox over real
HTTP (test mode: every ship action is a dry run, nothing is sent)."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from tests.orders.test_acks_and_modes import calls, fresh, lengow
from webapp.extensions import db
from webapp.models import Message, Order, OrderItem, Run, Shipment
from webapp.orders.service import import_orders

HEADER = "order,carrier,carrier_name,tracking_number,tracking_url,sku,quantity\n"


def confirmed(account, count: int, *, lines: int = 1) -> list[Order]:
    """``count`` distinct confirmed orders of the account with at least ``lines`` lines, each
    with marketplace line ids and a SKU naming one line only."""
    found = []
    for order in db.session.scalars(
        select(Order)
        .where(Order.account_id == account.id, Order.status == "confirmed")
        .order_by(Order.id)
    ):
        skus = [i.sku for i in order.items]
        if (
            len(order.items) >= lines
            and all(i.channel_line_id for i in order.items)
            and len(set(skus)) == len(skus)
            and all(skus)
        ):
            found.append(order)
        if len(found) == count:
            return found
    raise AssertionError(f"the sandbox has not {count} confirmed orders with {lines} lines")


def run_cli(app, store_code: str, path, *, exit_code: int = 0) -> dict:
    result = app.test_cli_runner().invoke(
        args=["orders", "ship-csv", "--store", store_code, "--source", str(path)]
    )
    assert result.exit_code == exit_code, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def messages(job_id: int) -> dict[int, str]:
    """The run's row messages: row number -> text."""
    rows = db.session.execute(
        select(Message.row_number, Message.error_message)
        .where(Message.import_job_id == job_id)
        .order_by(Message.row_number, Message.id)
    ).all()
    found: dict[int, str] = {}
    for number, text in rows:
        assert number not in found, f"two messages for row {number}"
        found[number] = text
    return found


def shipments_of(order: Order) -> list[Shipment]:
    return list(
        db.session.scalars(
            select(Shipment).where(Shipment.order_id == order.id).order_by(Shipment.id)
        )
    )


def test_good_rows_are_recorded_and_each_bad_row_names_its_problem(app, store, sandbox, tmp_path):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    [partial] = confirmed(account, 1, lines=2)
    whole, by_id, bad_qty = [o for o in confirmed(account, 4) if o.id != partial.id][:3]
    first, second = partial.items[0], partial.items[1]
    csv = tmp_path / "shipments.csv"
    csv.write_text(
        HEADER
        # 2: a whole order by its marketplace id
        + f"{whole.channel_order_id},dhl,,TRK-W,,,\n"
        # 3-4: one parcel with two lines of another order, by SKU and by line id
        + f"{partial.channel_order_id},ups,,TRK-P,,{first.sku},1\n"
        + f"{partial.channel_order_id},ups,,TRK-P,,{second.channel_line_id},\n"
        # 5: an order by its Mercato id
        + f"#{by_id.id},dhl,,TRK-ID,https://track.example/{by_id.id},,\n"
        # 6: unknown order
        + "NO-SUCH-ORDER,dhl,,TRK-X,,,\n"
        # 7: no tracking at all
        + f"{bad_qty.channel_order_id},dhl,,,,,\n"
        # 8: a quantity that is not a number
        + f"{bad_qty.channel_order_id},dhl,,TRK-Q,,{bad_qty.items[0].sku},two\n"
        # 9: more than the line holds (refused by record_shipment)
        + f"{bad_qty.channel_order_id},dhl,,TRK-Q2,,{bad_qty.items[0].sku},"
        f"{bad_qty.items[0].quantity + 5}\n"
        # 10: row 3 again
        + f"{partial.channel_order_id},ups,,TRK-P,,{first.sku},1\n"
        # 11: an unknown Mercato id
        + "#999999,dhl,,TRK-Y,,,\n"
        # 12: blank line skipped, then 13: a SKU the order does not have
        + "\n"
        + f"{whole.channel_order_id},dhl,,TRK-W2,,NOPE,1\n"
    )
    summary = run_cli(app, "acme", csv)
    assert summary["status"] == "completed_with_errors"
    assert summary["shipments_recorded"] == 3, messages(summary["job_id"])
    assert summary["already_recorded"] == 0
    assert summary["rows"] == 11
    fresh()
    found = messages(summary["job_id"])
    assert sorted(found) == [6, 7, 8, 9, 10, 11, 13]
    assert summary["bad_rows"] == 7
    assert "no order NO-SUCH-ORDER in this store" in found[6]
    assert "no tracking number or tracking URL" in found[7]
    assert "'two' is not a whole number" in found[8]
    assert "remain" in found[9] and bad_qty.channel_order_id in found[9]
    assert "duplicate of row 3" in found[10]
    assert "no order #999999" in found[11]
    assert "has no line NOPE" in found[13]
    assert all(text.startswith(f"Row {n}:") for n, text in found.items())
    # What was recorded: the whole order, the two-line parcel, the order named by id.
    [w] = shipments_of(whole)
    assert w.tracking_number == "TRK-W" and w.carrier == "dhl"
    history = db.session.get(Order, whole.id).status_history[-1]
    assert history.changed_by == f"cli (CSV #{summary['job_id']})"
    assert "TRK-W" in history.reason
    [p] = shipments_of(partial)
    assert p.tracking_number == "TRK-P"
    assert {(line.order_item_id, line.quantity) for line in p.lines} == {
        (first.id, 1),
        (second.id, second.quantity),
    }
    [b] = shipments_of(by_id)
    assert b.tracking_url == f"https://track.example/{by_id.id}"
    assert shipments_of(bad_qty) == []
    item = db.session.get(OrderItem, first.id)
    assert item.shipped_quantity == 1
    # Test mode: each ship action is a dry run, one per shipment line.
    ships = calls(account, action="order.ship")
    assert {c.status for c in ships} == {"dry_run"}
    assert len(ships) == 4  # whole order (1 call), the parcel (2 lines: 2 calls), by id (1)
    run = db.session.get(Run, summary["job_id"])
    assert run.kind == "bulk_shipping" and run.trigger == "cli"
    assert run.store_id == store.id

    # The same file again records nothing new, and says the same about the bad rows.
    again = run_cli(app, "acme", csv)
    assert again["shipments_recorded"] == 0
    assert again["already_recorded"] == 3
    assert sorted(messages(again["job_id"])) == [6, 7, 8, 9, 10, 11, 13]
    fresh()
    assert len(calls(account, action="order.ship")) == 4
    assert db.session.scalar(select(func.count()).select_from(Shipment)) == 3


def test_latin1_semicolon_file_and_other_headers(app, store, sandbox, tmp_path):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    [order] = confirmed(account, 1)
    csv = tmp_path / "expéditions.csv"
    csv.write_bytes(
        (
            "Order reference;Carrier;Carrier name;Tracking;Qty;SKU\n"
            f"{order.channel_order_id};other;Poste Française à Hérouville;LU-É-1;;\n"
        ).encode("latin-1")
    )
    summary = run_cli(app, "acme", csv)
    assert summary["status"] == "completed", messages(summary["job_id"])
    assert summary["shipments_recorded"] == 1
    fresh()
    [shipment] = shipments_of(order)
    assert shipment.carrier_name == "Poste Française à Hérouville"
    assert shipment.tracking_number == "LU-É-1"


def test_another_stores_order_is_unknown(app, store, other_store, sandbox, tmp_path):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    [order] = confirmed(account, 1)
    csv = tmp_path / "theirs.csv"
    csv.write_text(HEADER + f"{order.channel_order_id},dhl,,T1,,,\n#{order.id},dhl,,T2,,,\n")
    summary = run_cli(app, other_store.code, csv)
    assert summary["shipments_recorded"] == 0 and summary["bad_rows"] == 2
    found = messages(summary["job_id"])
    assert f"no order {order.channel_order_id} in this store" in found[2]
    assert f"no order #{order.id} in this store" in found[3]
    fresh()
    assert shipments_of(order) == []
    assert db.session.get(Run, summary["job_id"]).store_id == other_store.id


def test_a_file_without_the_needed_columns_fails_the_run_and_says_why(app, store, tmp_path):
    csv = tmp_path / "wrong.csv"
    csv.write_text("reference,colis\nA,B\n")
    summary = run_cli(app, "acme", csv, exit_code=1)
    assert summary["status"] == "failed"
    assert "no tracking_number" in summary["error"]
    assert messages(summary["job_id"]) == {}  # the run says it; no inbox entry for a file
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    summary = run_cli(app, "acme", empty, exit_code=1)
    assert summary["status"] == "failed" and "empty" in summary["error"]

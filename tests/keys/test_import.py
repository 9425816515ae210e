"""Uploading keys (``flask keys import``): any encoding and delimiter the product import
reads, deduplicated per store (within the file and against the pool), encrypted at rest, a
message per bad row with the key masked, unknown SKUs kept with a warning; the levels
(``flask keys levels``) and the low-pool alert in the inbox, closed when refilled; expired
keys are never given out."""

from __future__ import annotations

from sqlalchemy import select

from tests.keys.helpers import add_keys, jsonl, messages_of, order_lines, past, run_cli
from webapp.extensions import db
from webapp.keys import codes, levels, pool
from webapp.models import MarketplaceProduct, Message, Run
from webapp.models.keys import DigitalKey

SECRET = "ZZSECRET-9Q7W-XK2P"


def test_a_cp1252_semicolon_file_with_bad_rows_duplicates_and_an_unknown_sku(app, store, tmp_path):
    db.session.add(
        MarketplaceProduct(
            store_id=store.id,
            marketplace="letzshop",
            marketplace_product_id="GAME-1",
            content_hash=1,
        )
    )
    db.session.commit()
    path = tmp_path / "keys.csv"
    path.write_bytes(
        "Référence;Wert;Expiry\n"
        "GAME-1;AAAA-BBBB-0001;\n"
        "GAME-1;AAAA-BBBB-0002;2099-12-31\n"
        "GAME-1;AAAA-BBBB-0001;\n"  # the same key again in the file
        "GAME-2;CCCC-DDDD-0001;31/12/2099\n"  # a SKU the catalog does not have (yet)
        ";EEEE-FFFF-0001;\n"  # no product
        "GAME-1;;\n"  # no key
        f"GAME-1;{SECRET};soon\n"  # a bad date: the key is masked in the message
        f"GAME-1;{SECRET}X;2001-01-01\n"  # already expired
        "\n".encode("cp1252")
    )
    # "Wert" is not a key column name: the file is refused as a whole, saying so.
    result, out = run_cli(app, "keys", "import", "--store", "acme", "--source", path)
    assert result.exit_code == 1 and out["status"] == "failed"
    assert "key column" in out["error"] and SECRET not in out["error"]
    path.write_bytes(path.read_bytes().replace(b"Wert", "Clé".encode("cp1252")))

    result, out = run_cli(app, "keys", "import", "--store", "acme", "--source", path)
    assert result.exit_code == 0, result.output
    assert (out["imported"], out["duplicates"], out["errors"]) == (3, 1, 4)
    assert (out["rows"], out["unknown_skus"], out["status"]) == (8, 1, "completed_with_errors")
    assert (out["duplicates_in_file"], out["duplicates_in_pool"]) == (1, 0)
    messages = messages_of(out["job_id"])
    bad = [(m.row_number, m.severity) for m in messages if m.row_number and m.severity != "info"]
    assert bad == [(5, "warning"), (6, "error"), (7, "error"), (8, "error"), (9, "error")]
    [twice] = [m for m in messages if m.error_type == "duplicate_key"]
    assert twice.row_number == 4 and "twice in the file (row 2)" in twice.error_message
    assert "••••0001" in twice.error_message
    by_row = {m.row_number: m for m in messages if m.row_number and m.severity != "info"}
    assert "no SKU nor supplier product id" in by_row[6].error_message
    assert "key is empty" in by_row[7].error_message
    assert "not a date" in by_row[8].error_message and "••••" in by_row[8].error_message
    assert "expired" in by_row[9].error_message
    assert "GAME-2" in by_row[5].error_message and by_row[5].identifier == "GAME-2"
    # No key in clear anywhere: messages, their row data, the run.
    run = db.session.get(Run, out["job_id"])
    said = " ".join(f"{m.error_message} {m.row_data}" for m in messages) + str(out)
    for clear in ("AAAA-BBBB-0001", SECRET, "EEEE-FFFF-0001"):
        assert clear not in said
    assert run.source_path and not run.error_message
    # Encrypted at rest, opened only through codes.
    keys = db.session.scalars(select(DigitalKey).order_by(DigitalKey.id)).all()
    assert [k.sku for k in keys] == ["GAME-1", "GAME-1", "GAME-2"]
    assert all("BBBB" not in k.code_encrypted and "DDDD" not in k.code_encrypted for k in keys)
    assert [codes.open_text(k) for k in keys] == [
        "AAAA-BBBB-0001",
        "AAAA-BBBB-0002",
        "CCCC-DDDD-0001",
    ]
    assert keys[0].expires_at is None and keys[1].expires_at.isoformat() == "2100-01-01T00:00:00"
    assert all(k.import_run_id == run.id for k in keys)

    # The same file again: every good key is a duplicate of the pool, nothing is added.
    result, again = run_cli(app, "keys", "import", "--store", "acme", "--source", path)
    assert (again["imported"], again["duplicates"], again["errors"]) == (0, 4, 4)
    assert (again["duplicates_in_file"], again["duplicates_in_pool"]) == (1, 3)
    pool_dups = [m for m in messages_of(again["job_id"]) if m.error_type == "duplicate_key"]
    assert [m.row_number for m in pool_dups] == [2, 3, 4, 5]
    assert "already in the store's pool" in pool_dups[0].error_message
    assert db.session.scalar(select(db.func.count(DigitalKey.id))) == 3


def test_a_key_of_one_store_is_not_a_duplicate_in_another(app, store, other_store, tmp_path):
    path = tmp_path / "keys.tsv"
    path.write_text("sku\tkey\nG\tSAME-KEY-1\n", encoding="utf-8")
    for code in ("acme", "globex"):
        _, out = run_cli(app, "keys", "import", "--store", code, "--source", path)
        assert (out["imported"], out["duplicates"]) == (1, 0)
    assert levels.levels(store.id)[0].available == 1
    assert levels.levels(other_store.id)[0].available == 1


def test_supplier_product_ids_gzip_and_levels_jsonl(app, store, tmp_path):
    import gzip

    path = tmp_path / "cw.csv.gz"
    path.write_bytes(
        gzip.compress(
            b"product_id,license_key,expires_at\n"
            b"cw-123$ x,K-1,\n"
            b"cw-123$ x,K-2,2000-01-01T00:00:00Z\n"
            b"cw-123$ x,K-3,2099-01-01T10:00:00+02:00\n"
        )
    )
    _, out = run_cli(app, "keys", "import", "--store", "acme", "--source", path)
    assert (out["imported"], out["errors"], out["unknown_skus"]) == (2, 1, 0)
    k3 = db.session.scalar(
        select(DigitalKey)
        .where(DigitalKey.supplier_product_id == "cw-123$ x")
        .order_by(DigitalKey.id.desc())
    )
    assert k3.expires_at.isoformat() == "2099-01-01T08:00:00"
    add_keys(store.id, "SKU-A", 2)
    add_keys(store.id, "SKU-A", 1, prefix="OLD", expires=past())
    [line] = order_lines(store.id, "SKU-A", 1)
    assert (
        len(
            pool.claim(
                store.id, sku="SKU-A", supplier_product_id=None, quantity=1, order_item_id=line
            )
        )
        == 1
    )
    db.session.commit()
    rows = jsonl(app, "keys", "levels", "--store", "acme", "--format", "jsonl")
    assert rows == [
        {"sku": "SKU-A", "supplier_product_id": None, "available": 1, "assigned": 1, "expired": 1},
        {
            "sku": None,
            "supplier_product_id": "cw-123$ x",
            "available": 2,
            "assigned": 0,
            "expired": 0,
        },
    ]


def test_expired_keys_are_never_given_out_and_show_as_expired(app, store):
    add_keys(store.id, "G", 2, prefix="GONE", expires=past())
    add_keys(store.id, "G", 1, prefix="LIVE")
    lines = order_lines(store.id, "G", 3)
    got = pool.claim(
        store.id, sku="G", supplier_product_id=None, quantity=3, order_item_id=lines[0]
    )
    db.session.commit()
    assert [codes.open_text(k) for k in got] == ["LIVE-000000"]
    assert (
        pool.claim(store.id, sku="G", supplier_product_id=None, quantity=1, order_item_id=lines[1])
        == []
    )
    assert not pool.has_free(store.id, sku="G", supplier_product_id=None)
    [level] = levels.levels(store.id)
    assert (level.available, level.assigned, level.expired) == (0, 1, 2)
    states = {levels.key_state(k) for k in db.session.scalars(select(DigitalKey))}
    assert states == {"expired", "assigned"}


def _open_alerts(store_id):
    db.session.expire_all()  # the CLI's updates went around this session's objects
    return db.session.scalars(
        select(Message).where(
            Message.store_id == store_id,
            Message.error_type == levels.LOW,
            Message.resolved_at.is_(None),
        )
    ).all()


def test_low_pool_alert_is_raised_once_and_closed_when_refilled(app, store, other_store, tmp_path):
    low = tmp_path / "low.csv"
    low.write_text("sku,key\n" + "".join(f"LOW,L-{n}\n" for n in range(3)) + "FULL,F-0\n")
    run_cli(app, "keys", "threshold", "--store", "acme", "--set", "1")
    _, out = run_cli(app, "keys", "import", "--store", "acme", "--source", low)
    assert out["imported"] == 4 and _open_alerts(store.id) == []  # threshold 1: none low
    _, shown = run_cli(app, "keys", "threshold", "--store", "acme", "--set", "5")
    assert shown == {"store": "acme", "low_threshold": 5}
    alerts = _open_alerts(store.id)
    assert sorted(a.identifier for a in alerts) == ["FULL", "LOW"]
    assert all(a.severity == "error" and a.row_number is None for a in alerts)
    assert "3 available" in next(a for a in alerts if a.identifier == "LOW").error_message
    # Checking again raises nothing new; another store sees none of it.
    run_cli(app, "keys", "threshold", "--store", "acme", "--set", "5")
    assert len(_open_alerts(store.id)) == 2 and _open_alerts(other_store.id) == []
    refill = tmp_path / "refill.csv"
    refill.write_text("sku,key\n" + "".join(f"LOW,R-{n}\n" for n in range(2)))
    run_cli(app, "keys", "import", "--store", "acme", "--source", refill)
    assert [a.identifier for a in _open_alerts(store.id)] == ["FULL"]
    closed = db.session.scalar(
        select(Message).where(Message.identifier == "LOW", Message.error_type == levels.LOW)
    )
    assert closed.resolved_at is not None and "refilled" in closed.resolved_by
    # Giving keys out drops the level: the next check (the feed's run) raises it again.
    lines = order_lines(store.id, "LOW", 1)
    pool.claim(store.id, sku="LOW", supplier_product_id=None, quantity=1, order_item_id=lines[0])
    db.session.commit()
    from webapp.imports.keys_file import check_now

    check_now(store)
    assert sorted(a.identifier for a in _open_alerts(store.id)) == ["FULL", "LOW"]
    run_cli(app, "keys", "threshold", "--store", "acme", "--set", "0")  # alerts off
    assert _open_alerts(store.id) == []


def test_refusals(app, store, tmp_path):
    result, _ = run_cli(app, "keys", "import", "--store", "acme", "--source", tmp_path / "no.csv")
    assert result.exit_code != 0 and "No file" in result.output
    result, _ = run_cli(app, "keys", "import", "--store", "nope", "--source", tmp_path)
    assert result.exit_code != 0
    result, _ = run_cli(app, "keys", "threshold", "--store", "acme", "--set", "-1")
    assert result.exit_code != 0 and "whole number" in result.output
    json_file = tmp_path / "keys.json"
    json_file.write_text('[{"sku": "A", "key": "B"}]')
    result, out = run_cli(app, "keys", "import", "--store", "acme", "--source", json_file)
    assert result.exit_code == 1 and "CSV" in out["error"]


def test_the_feed_run_without_a_file_checks_the_levels(app, store, tmp_path):
    from webapp.imports.keys_file import store_feed
    from webapp.runs import lifecycle

    add_keys(store.id, "FEW", 1)
    feed = store_feed(store)
    assert not feed.enabled  # created off, like every store feed
    feed.enabled = True
    db.session.commit()
    started = lifecycle.run_feed(feed.id, trigger="run_now")
    run = started.run
    assert (run.kind, run.status, run.source_path) == ("key_import", "completed", None)
    said = {m.error_type: m for m in messages_of(run.id)}
    assert set(said) == {"levels_checked", levels.LOW}  # the alert is the run's message
    assert "1 alert(s) raised" in said["levels_checked"].error_message
    assert [a.identifier for a in _open_alerts(store.id)] == ["FEW"]

"""The operators' CLI driven for real (``flask stores|users|imports|products|demo``), on
SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import func, select

from tests.imports.helpers import write
from webapp.catalog.cli import EXPORT_FIELDS
from webapp.extensions import db
from webapp.models import Run, Store, User

SUMMARY_KEYS = {"job_id", "status", "imported", "updated", "unchanged", "errors", "warnings"}
SUMMARY_KEYS |= {"total"}

FEED = (
    "id,title,description,price,sale_price,gtin,availability,brand,link,image_link,"
    "item_group_id,color\n"
    'C1,"<script>alert(1)</script>","<p>Desc & more</p>",29.99 EUR,19.5 EUR,4006381333931,'
    "in stock,Acme,https://shop.example/c1,https://img.example/c1.jpg,G1,red\n"
    "C2,Table,,10,,,out of stock,,,,,\n"
    "C3,,,12,,,,,,,,\n"
)


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        result = runner.invoke(args=list(args))
        db.session.rollback()  # see what the command committed, not a stale snapshot
        return result

    return invoke


def last_json(result) -> dict:
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, result.output
    return json.loads(lines[-1])


def run_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Run))


# --- stores and users ----------------------------------------------------------------------


def test_stores_create_prints_json_and_refuses_a_duplicate(cli):
    result = cli("stores", "create", "shop1", "Shop One", "--language", "de")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    store = db.session.scalar(select(Store).where(Store.code == "shop1"))
    assert out == {"id": store.id, "code": "shop1", "name": "Shop One"}
    assert store.default_language == "de"

    again = cli("stores", "create", "shop1", "Other name")
    assert again.exit_code != 0
    assert "already exists" in again.output
    assert db.session.scalar(select(func.count()).select_from(Store)) == 1
    assert db.session.get(Store, store.id).name == "Shop One"


def test_users_create_admin_and_store_user(cli, store):
    result = cli("users", "create", "Boss@Example.COM", "--password", "long-enough", "--admin")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    admin = db.session.get(User, out["id"])
    assert out == {"id": admin.id, "email": "boss@example.com", "admin": True, "store": None}
    assert admin.is_admin and admin.store_id is None
    assert admin.password_hash != "long-enough"
    assert admin.check_password("long-enough") and not admin.check_password("long-enougH")

    result = cli(
        "users", "create", "clerk@example.com", "--password", "12345678", "--store", "acme"
    )
    assert result.exit_code == 0, result.output
    clerk = db.session.scalar(select(User).where(User.email == "clerk@example.com"))
    assert not clerk.is_admin and clerk.store_id == store.id
    assert clerk.check_password("12345678")

    dup = cli("users", "create", "BOSS@example.com", "--password", "long-enough", "--admin")
    assert dup.exit_code != 0 and "already exists" in dup.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--password", "long-enough"], "exactly one of --admin or --store"),
        (["--password", "long-enough", "--admin", "--store", "acme"], "exactly one of"),
        (["--password", "short", "--admin"], "at least 8 characters"),
        (["--password", "long-enough", "--store", "nope"], "No store with code 'nope'"),
    ],
)
def test_users_create_refuses_bad_requests(cli, store, args, message):
    result = cli("users", "create", "x@example.com", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


# --- imports run ---------------------------------------------------------------------------


def test_imports_run_prints_the_summary_last(cli, store, tmp_path):
    path = write(tmp_path, "feed.csv", FEED)
    result = cli(
        "imports", "run", "--store", "acme", "--source", str(path), "--language", "fr",
        "--batch-size", "100",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = last_json(result)
    assert set(summary) == SUMMARY_KEYS
    run = db.session.get(Run, summary["job_id"])
    assert summary == run.summary()
    assert (summary["status"], summary["imported"], summary["errors"]) == (
        "completed_with_errors",
        2,
        1,
    )
    assert summary["total"] == (
        summary["imported"] + summary["updated"] + summary["unchanged"] + summary["errors"]
    )
    assert (run.language, run.batch_size, run.trigger, run.store_id) == ("fr", 100, "cli", store.id)

    again = last_json(
        cli("imports", "run", "--store", "acme", "--source", str(path), "--language", "fr")
    )
    assert (again["imported"], again["updated"], again["unchanged"], again["total"]) == (0, 0, 2, 3)
    assert again["total"] == again["imported"] + again["updated"] + again["unchanged"] + 1


def test_imports_run_failing_import_prints_summary_and_exits_non_zero(cli, store, tmp_path):
    path = write(tmp_path, "login.html", "<!DOCTYPE html><html><body><form>Login</form></html>")
    result = cli("imports", "run", "--store", "acme", "--source", str(path))
    assert result.exit_code == 1
    summary = last_json(result)
    assert set(summary) == SUMMARY_KEYS
    assert summary["status"] == "failed" and summary["total"] == 0
    assert "Import failed:" in result.stderr and "web page" in result.stderr
    assert db.session.get(Run, summary["job_id"]).status == "failed"


def test_imports_run_missing_file_and_unknown_store(cli, store, tmp_path):
    missing = cli("imports", "run", "--store", "acme", "--source", str(tmp_path / "nope.csv"))
    assert missing.exit_code != 0 and "No such file" in missing.output
    path = write(tmp_path, "feed.csv", FEED)
    unknown = cli("imports", "run", "--store", "ghost", "--source", str(path))
    assert unknown.exit_code != 0 and "No store with code 'ghost'" in unknown.output
    assert run_count() == 0


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/feed.csv", "http://user:pw-secret@10.0.0.1/feed.csv"]
)
def test_imports_run_refuses_an_internal_url_and_creates_no_run(cli, store, url):
    result = cli("imports", "run", "--store", "acme", "--source", url)
    assert result.exit_code != 0
    assert "will not fetch" in result.output
    assert "pw-secret" not in result.output
    assert run_count() == 0


def test_imports_run_refuses_a_bad_batch_size(cli, store, tmp_path):
    path = write(tmp_path, "feed.csv", FEED)
    result = cli("imports", "run", "--store", "acme", "--source", str(path), "--batch-size", "5")
    assert result.exit_code != 0 and "Batch size" in result.output
    assert run_count() == 0


# --- products export -----------------------------------------------------------------------


@pytest.fixture
def imported(cli, store, other_store, tmp_path):
    fr = write(tmp_path, "fr.csv", FEED)
    en = write(tmp_path, "en.csv", "id,title,price\nC2,Table (en),10\nE9,Only english,5\n")
    theirs = write(tmp_path, "theirs.csv", "id,title,price\nC1,Globex chair,99\nX1,Secret,1\n")
    for code, path, language in (("acme", fr, "fr"), ("acme", en, "en"), ("globex", theirs, "en")):
        result = cli(
            "imports", "run", "--store", code, "--source", str(path), "--language", language
        )
        assert result.exit_code == 0, result.output
    return store


def test_export_jsonl_has_every_product_and_field(cli, imported):
    result = cli("products", "export", "--store", "acme", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == ["C1", "C2", "E9"]
    assert all(list(r) == list(EXPORT_FIELDS) for r in records)
    c1 = records[0]
    assert c1["title"] == "<script>alert(1)</script>"
    assert '"title": "<script>alert(1)</script>"' in result.stdout  # not escaped on the way out
    assert c1 == {
        "id": "C1",
        "title": "<script>alert(1)</script>",
        "description": "<p>Desc & more</p>",
        "price": "29.99",
        "sale_price": "19.50",
        "currency": "EUR",
        "gtin": "4006381333931",
        "availability": "in_stock",
        "brand": "Acme",
        "link": "https://shop.example/c1",
        "image_link": "https://img.example/c1.jpg",
        "item_group_id": "G1",
        "extra": {"color": "red"},
    }
    # The store's default language is fr: C2 has fr, E9 only en.
    assert records[1]["title"] == "Table" and records[1]["price"] == "10.00"
    assert records[2]["title"] == "Only english"


def test_export_language_and_fallback(cli, imported):
    en = cli("products", "export", "--store", "acme", "--language", "en")
    assert [json.loads(line)["title"] for line in en.stdout.splitlines()] == [
        "<script>alert(1)</script>",  # no en title: falls back to fr
        "Table (en)",
        "Only english",
    ]
    de = cli("products", "export", "--store", "acme", "--language", "de")
    assert [json.loads(line)["title"] for line in de.stdout.splitlines()] == [
        "<script>alert(1)</script>",
        "Table",  # fr before en
        "Only english",
    ]


def test_export_csv(cli, imported):
    result = cli("products", "export", "--store", "acme", "--format", "csv")
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert tuple(reader.fieldnames) == EXPORT_FIELDS
    rows = list(reader)
    assert [r["id"] for r in rows] == ["C1", "C2", "E9"]
    assert rows[0]["title"] == "<script>alert(1)</script>"
    assert rows[0]["price"] == "29.99" and rows[0]["gtin"] == "4006381333931"
    assert json.loads(rows[0]["extra"]) == {"color": "red"}
    assert json.loads(rows[1]["extra"]) == {}


def test_export_never_shows_another_stores_products(cli, imported):
    ours = cli("products", "export", "--store", "acme").stdout
    assert "Globex chair" not in ours and "Secret" not in ours and "X1" not in ours
    theirs = [
        json.loads(line)
        for line in cli("products", "export", "--store", "globex").stdout.splitlines()
    ]
    assert [(r["id"], r["title"], r["price"]) for r in theirs] == [
        ("C1", "Globex chair", "99.00"),
        ("X1", "Secret", "1.00"),
    ]
    unknown = cli("products", "export", "--store", "ghost")
    assert unknown.exit_code != 0 and "No store with code 'ghost'" in unknown.output


# --- demo ----------------------------------------------------------------------------------


def test_demo_seed_is_idempotent(cli):
    for _ in range(2):
        result = cli("demo", "seed")
        assert result.exit_code == 0, result.output
        assert "admin@mercato.local / mercato-demo" in result.stdout
    stores = db.session.scalars(select(Store)).all()
    assert [s.code for s in stores] == ["demo"]
    users = {u.email: u for u in db.session.scalars(select(User))}
    assert set(users) == {"admin@mercato.local", "store@mercato.local"}
    assert users["admin@mercato.local"].is_admin
    assert users["store@mercato.local"].store_id == stores[0].id
    assert users["store@mercato.local"].check_password("mercato-demo")


def test_demo_seed_prints_the_login_url_of_the_port_web_listens_on(cli, app):
    from webapp.config import load

    assert load({"MERCATO_ENV": "test", "PORT": "5331"})["PORT"] == 5331
    assert load({"MERCATO_ENV": "test"})["PORT"] == 5000
    app.config["PORT"] = 5331
    result = cli("demo", "seed")
    assert result.exit_code == 0, result.output
    assert "Log in at http://127.0.0.1:5331/login with:" in result.stdout
    assert ":5000" not in result.stdout
    # make run says where its web answers.
    result = cli("demo", "seed", "--url", "http://127.0.0.1:5332/")
    assert "Log in at http://127.0.0.1:5332/login with:" in result.stdout


def test_secrets_rotate_reencrypts_under_the_new_first_key(app, store):
    from cryptography.fernet import Fernet

    from webapp.crypto import decrypt, encrypt

    old_key = app.config["MERCATO_ENCRYPTION_KEYS"][0]
    run = Run(
        store_id=store.id,
        source_url="https://u:***@h/f.csv",
        source_secret=encrypt("https://u:p@h/f.csv"),
    )
    db.session.add(run)
    db.session.commit()
    new_key = Fernet.generate_key().decode()
    app.config["MERCATO_ENCRYPTION_KEYS"] = [new_key, old_key]
    result = app.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1]) == {"rotated": 1}
    app.config["MERCATO_ENCRYPTION_KEYS"] = [new_key]  # the old key can now be dropped
    db.session.refresh(run)
    assert decrypt(run.source_secret) == "https://u:p@h/f.csv"

"""``flask stores create|list|update``: the rules of the admin page and the API, JSON last."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.webapp.admin_helpers import fill_store
from webapp.extensions import db
from webapp.models import Feed, Store


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str):
        result = runner.invoke(args=list(args))
        db.session.rollback()
        return result

    return invoke


def last_json(result) -> dict:
    return json.loads([line for line in result.stdout.splitlines() if line.strip()][-1])


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("Shop1", "Store codes are lowercase: use 'shop1'."),
        ("shop one", "The code may contain only lowercase letters"),
        ("new", "'new' is reserved"),
    ],
)
def test_create_refuses_a_code_the_admin_page_refuses(cli, code, message):
    result = cli("stores", "create", code, "Shop")
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.scalar(select(func.count()).select_from(Store)) == 0


def test_create_gives_the_store_its_feeds_and_can_start_inactive(cli):
    result = cli("stores", "create", "quiet", "Quiet shop", "--inactive")
    assert result.exit_code == 0, result.output
    store = db.session.get(Store, last_json(result)["id"])
    assert store.is_active is False
    assert [f.kind for f in Feed.query.filter_by(store_id=store.id)] == ["import_products"]


def test_list_prints_each_store_with_its_counts(cli, store, other_store):
    fill_store(store, products=2, published=1, orders=3, errors=1)
    result = cli("stores", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["code"] for r in records] == ["acme", "globex"]
    acme = records[0]
    assert (acme["products"], acme["published"], acme["orders"]) == (2, 1, 3)
    assert (acme["accounts"], acme["live_accounts"], acme["open_errors"]) == (2, 1, 1)
    table = cli("stores", "list", "--search", "glob").stdout
    assert "globex" in table and "acme" not in table


def test_update_changes_the_fields_given_and_prints_the_store(cli, store):
    store.letzshop_csv_url_de = "https://u:pw@feeds.example.com/de.csv"
    db.session.commit()
    result = cli(
        "stores",
        "update",
        "acme",
        "--name",
        "Acme Home",
        "--language",
        "en",
        "--inactive",
        "--letzshop-url",
        "fr=https://feeds.example.com/fr.csv",
        "--letzshop-url",
        "de=",
    )
    assert result.exit_code == 0, result.output
    out = last_json(result)
    assert (out["name"], out["default_language"], out["is_active"]) == ("Acme Home", "en", False)
    assert out["letzshop_csv_url_fr"] == "https://feeds.example.com/fr.csv"
    stored = db.session.get(Store, store.id)
    assert stored.letzshop_csv_url_de is None and stored.name == "Acme Home"


def test_update_refuses_bad_input(cli, store):
    bad_url = cli("stores", "update", "acme", "--letzshop-url", "fr=ftp://x/y.csv")
    assert bad_url.exit_code != 0 and "http:// or https://" in bad_url.output
    assert cli("stores", "update", "acme", "--letzshop-url", "it=https://x/y").exit_code != 0
    assert cli("stores", "update", "acme").exit_code != 0  # nothing to change
    assert "No store with code 'nope'" in cli("stores", "update", "nope", "--name", "x").output
    assert db.session.get(Store, store.id).name == "Acme"

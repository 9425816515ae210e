"""Admins and stores: /admin, the store list with its counts, a store's overview, creating and
editing a store (validation, CSRF, admins only), and the way from there into the store's pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.feeds.conftest import feed_entries
from tests.webapp.admin_helpers import fill_store
from tests.webapp.conftest import csrf_from
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import Feed, Store


def store_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Store))


def row_of(html: str, code: str) -> str:
    match = re.search(rf'<tr id="store-{code}".*?</tr>', html, re.S)
    assert match, f"no row for {code}"
    return match.group(0)


def numbers(row: str) -> list[int]:
    """The figures of a store row's count cells, in column order."""
    cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
    return [int(re.search(r">(\d+)</a>", cell).group(1)) for cell in cells]


# -- /admin and the list -------------------------------------------------------------------


def test_admin_lands_on_the_store_list(admin_client):
    for url in ("/admin", "/admin/"):
        response = admin_client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"] == "/admin/stores"


def test_store_list_counts_what_matters_per_store(admin_client, store, other_store):
    expected = fill_store(store, products=7, published=3, orders=5, errors=4)
    html = admin_client.get("/admin/stores").text
    acme, globex = row_of(html, "acme"), row_of(html, "globex")
    # Products, orders, accounts (not retired), open errors (resolved, warnings, feed rows
    # left out): the count cells, in column order.
    assert numbers(acme) == [7, 5, 2, 4]
    assert numbers(globex) == [0, 0, 0, 0]
    assert "3 published" in acme and "1 live" in acme
    assert expected["open_errors"] == 4
    # Each figure leads to its page, and the row to every page of the store.
    for href in (
        "/store/acme/products",
        "/store/acme/orders",
        "/store/acme/accounts",
        "/store/acme/inbox",
        "/store/acme/feeds",
        "/admin/stores/acme/edit",
        "/admin/stores/acme",
    ):
        assert f'href="{href}"' in acme, href
    # By name: Acme before Globex.
    assert html.index('id="store-acme"') < html.index('id="store-globex"')


def test_store_list_search_status_and_empty_filters(admin_client, store, other_store):
    other_store.is_active = False
    db.session.commit()
    found = admin_client.get("/admin/stores?q=GLOB").text
    assert 'id="store-globex"' in found and 'id="store-acme"' not in found
    inactive = admin_client.get("/admin/stores?status=inactive").text
    assert 'id="store-globex"' in inactive and 'id="store-acme"' not in inactive
    assert "inactive" in row_of(inactive, "globex")
    # A LIKE wildcard typed into the search is a character, not "anything".
    none = admin_client.get("/admin/stores?q=%25").text
    assert "No store matches these filters" in none
    assert 'href="/admin/stores">Clear the filters' in none


def test_every_store_page_lets_an_admin_in(app, admin_client, store):
    """The store pages resolve the store for admins too: each GET page of a store answers an
    admin (a fragment URL asked for without HTMX sends to its page)."""
    checked = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/store/<code>") or rule.arguments != {"code"}:
            continue
        if "GET" not in rule.methods:
            continue
        url = rule.rule.replace("<code>", "acme")
        response = admin_client.get(url)
        assert response.status_code in (200, 302), (url, response.status_code)
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/store/acme/"), url
        checked.append(url)
    assert {"/store/acme/orders", "/store/acme/products", "/store/acme/accounts"} <= set(checked)
    assert "/store/acme/feeds" in checked and "/store/acme/settings" in checked


# -- admins only ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, url",
    [
        ("GET", "/admin"),
        ("GET", "/admin/stores"),
        ("GET", "/admin/stores/new"),
        ("POST", "/admin/stores/new"),
        ("GET", "/admin/stores/acme"),
        ("GET", "/admin/stores/acme/edit"),
        ("POST", "/admin/stores/acme/edit"),
    ],
)
def test_a_store_user_gets_404_everywhere(store_client, store, method, url):
    csrf = csrf_from(store_client.get("/store/acme/settings").text)
    data = {"csrf_token": csrf, "code": "mine", "name": "Mine"} if method == "POST" else None
    response = store_client.open(url, method=method, data=data)
    assert response.status_code == 404
    assert store_count() == 1
    assert db.session.get(Store, store.id).name == "Acme"


def test_anonymous_visitors_are_sent_to_log_in(app, store):
    client = app.test_client()
    for url in ("/admin/stores", "/admin/stores/new", "/admin/stores/acme/edit"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


# -- create --------------------------------------------------------------------------------


def new_store_form(client, **fields) -> tuple[int, str]:
    page = client.get("/admin/stores/new")
    assert page.status_code == 200
    data = {
        "csrf_token": csrf_from(page.text),
        "code": "",
        "name": "",
        "default_language": "fr",
        "is_active": "y",
        **fields,
    }
    response = client.post("/admin/stores/new", data=data)
    return response.status_code, response.text if response.status_code != 302 else (
        response.headers["Location"]
    )


def test_create_a_store_with_its_feeds(app, admin_client):
    status, location = new_store_form(
        admin_client,
        code="acme-furniture",
        name="  Acme Furniture ",
        default_language="de",
        letzshop_csv_url_de="https://feeds.example.com/de.csv",
    )
    assert (status, location) == (302, "/admin/stores/acme-furniture")
    store = db.session.scalar(select(Store).where(Store.code == "acme-furniture"))
    assert (store.name, store.default_language, store.is_active) == ("Acme Furniture", "de", True)
    assert store.letzshop_csv_url_de == "https://feeds.example.com/de.csv"
    assert store.letzshop_csv_url_fr is None
    # A store created here is a store like any other: its file-import feed exists.
    kinds = set(db.session.scalars(select(Feed.kind).where(Feed.store_id == store.id)))
    assert kinds == {"import_products"}
    overview = admin_client.get(location).text
    assert "Store Acme Furniture (acme-furniture) created." in overview
    assert 'href="/store/acme-furniture/orders"' in overview


@pytest.mark.parametrize(
    "code, message",
    [
        ("", "Give the store a code."),
        ("Acme", "Store codes are lowercase: use &#39;acme&#39;."),
        ("acme furniture", "The code may contain only lowercase letters"),
        ("a", "The code may contain only lowercase letters"),
        ("-acme", "The code may contain only lowercase letters"),
        ("acme/../x", "The code may contain only lowercase letters"),
        ("x" * 65, "The code may contain only lowercase letters"),
        ("new", "&#39;new&#39; is reserved"),
        ("acme", "A store with the code &#39;acme&#39; already exists."),
    ],
)
def test_create_refuses_a_wrong_or_taken_code_and_creates_nothing(
    admin_client, store, code, message
):
    status, html = new_store_form(admin_client, code=code, name="Another")
    assert status == 422
    assert message in html
    assert 'aria-invalid="true"' in html
    assert f'value="{code}"' in html or code == "" or "/" in code  # what was typed stays
    assert store_count() == 1


def test_create_lists_every_wrong_field_at_once(admin_client):
    status, html = new_store_form(
        admin_client,
        code="ok-code",
        name="   ",
        default_language="xx",
        letzshop_csv_url_fr="ftp://example.com/x.csv",
        letzshop_csv_url_en="not a url",
    )
    assert status == 422
    assert "Give the store a name." in html
    assert "The default language must be one of fr, en, de." in html
    assert html.count("Give a full http:// or https:// address, or leave it empty.") == 2
    assert store_count() == 0


def test_create_without_a_csrf_token_is_refused(admin_client):
    response = admin_client.post("/admin/stores/new", data={"code": "sneaky", "name": "Sneaky"})
    assert response.status_code == 400
    assert store_count() == 0


def test_create_shown_markup_is_escaped(admin_client):
    status, location = new_store_form(admin_client, code="xss", name="<script>alert(1)</script>")
    assert status == 302
    for url in (location, "/admin/stores", "/admin/stores/xss/edit"):
        html = admin_client.get(url).text
        assert "<script>alert(1)</script>" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url


# -- edit ----------------------------------------------------------------------------------


def edit(client, store_code: str, **fields) -> tuple[int, str]:
    page = client.get(f"/admin/stores/{store_code}/edit")
    assert page.status_code == 200
    form = {
        name: value
        for name, value in re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', page.text)
    }
    form.pop("is_active", None)
    data = {**form, "default_language": "fr", "is_active": "y", **fields}
    data = {k: v for k, v in data.items() if v is not None}
    response = client.post(f"/admin/stores/{store_code}/edit", data=data)
    body = response.headers.get("Location") if response.status_code == 302 else response.text
    return response.status_code, body


def test_edit_saves_every_field_but_never_the_code(admin_client, store):
    store.letzshop_csv_url_fr = "https://user:hunter2@feeds.example.com/fr.csv"
    db.session.commit()
    page = admin_client.get("/admin/stores/acme/edit").text
    assert "hunter2" not in page and "https://user:***@feeds.example.com/fr.csv" in page
    assert 'name="code"' not in page  # shown, not editable
    status, location = edit(
        admin_client,
        "acme",
        name="Acme Home",
        default_language="en",
        code="renamed",
        letzshop_csv_url_en="https://feeds.example.com/en.csv",
    )
    assert (status, location) == (302, "/admin/stores/acme")
    db.session.rollback()
    store = db.session.get(Store, store.id)
    assert (store.code, store.name, store.default_language) == ("acme", "Acme Home", "en")
    assert store.letzshop_csv_url_en == "https://feeds.example.com/en.csv"
    # The masked address came back unchanged: the stored password is kept.
    assert store.letzshop_csv_url_fr == "https://user:hunter2@feeds.example.com/fr.csv"
    assert "Store Acme Home (acme) saved." in admin_client.get(location).text
    overview = admin_client.get("/admin/stores/acme").text
    assert "hunter2" not in overview and "user:***@feeds.example.com" in overview


def test_edit_refuses_bad_values_and_changes_nothing(admin_client, store):
    status, html = edit(admin_client, "acme", name="", letzshop_csv_url_de="javascript:alert(1)")
    assert status == 422
    assert "Give the store a name." in html
    assert "Give a full http:// or https:// address" in html
    db.session.rollback()
    assert db.session.get(Store, store.id).name == "Acme"
    assert db.session.get(Store, store.id).letzshop_csv_url_de is None


def test_edit_of_an_unknown_store_is_404(admin_client):
    assert admin_client.get("/admin/stores/nope/edit").status_code == 404
    assert admin_client.get("/admin/stores/nope").status_code == 404


def test_switching_a_store_off_unschedules_its_feeds_and_on_again(app, admin_client, store):
    account = create_account(store, "letzshop", "Letzshop", secrets={"api_token": "t"})
    feed_ids = set(db.session.scalars(select(Feed.id).where(Feed.account_id == account.id)))
    scheduled = set(feed_entries(app))
    assert scheduled, "the account's inbound feeds are scheduled"

    status, _ = edit(admin_client, "acme", is_active=None)  # the checkbox left unticked
    assert status == 302
    db.session.rollback()
    assert db.session.get(Store, store.id).is_active is False
    assert feed_entries(app) == {}
    assert "inactive" in admin_client.get("/admin/stores").text

    status, _ = edit(admin_client, "acme", is_active="y")
    assert status == 302
    assert set(feed_entries(app)) == scheduled
    assert feed_ids  # (the feeds themselves are kept throughout)


def test_two_admins_creating_the_same_code_at_once_make_one_store(app, backend):
    """The code check and the insert are two statements: a second create that passed the check
    while the first was not committed yet waits on the unique index, then is refused as taken."""
    if backend != "postgresql":
        pytest.skip("two concurrent writers are asserted on PostgreSQL; SQLite serialises them")
    import threading
    import time

    from sqlalchemy import insert, text

    from webapp.admin.stores import StoreError, create_store
    from webapp.models.base import utcnow

    now = utcnow()
    first = db.engine.connect()
    first_tx = first.begin()
    first.execute(
        insert(Store.__table__).values(
            code="race",
            name="First",
            default_language="fr",
            is_active=True,
            created_at=now,
            updated_at=now,
        )
    )
    outcome: list = []

    def second_admin():
        with app.app_context():
            try:
                outcome.append(create_store({"code": "race", "name": "Second"}))
            except StoreError as exc:
                outcome.append(exc)
            finally:
                db.session.remove()

    thread = threading.Thread(target=second_admin)
    thread.start()
    with db.engine.connect() as watcher:  # wait until the second insert waits on the first
        deadline = time.monotonic() + 10
        while not watcher.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
            assert time.monotonic() < deadline, "the second create never waited"
            time.sleep(0.05)
    first_tx.commit()
    first.close()
    thread.join(timeout=20)
    assert len(outcome) == 1 and isinstance(outcome[0], StoreError), outcome
    assert outcome[0].conflict
    assert outcome[0].errors == {"code": "A store with the code 'race' already exists."}
    db.session.rollback()
    assert db.session.scalars(select(Store.name).where(Store.code == "race")).all() == ["First"]

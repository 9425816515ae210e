"""Adding a connector is one folder in ``connectors/`` plus one fake in ``sandbox/fakes/``.

A throwaway marketplace ("Bazaar") is written into temporary folders that join the
``connectors`` and ``sandbox.fakes`` packages, as a new folder and a new module there would.
Nothing under webapp/ knows it, yet through the app's ordinary paths it gets an account form,
its default feeds, a working connection test against its fake and an order poll that books
the fake's orders.
"""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

import connectors
import sandbox.fakes
from connectors import registry
from sandbox.app import create_sandbox_app
from tests.sandbox_server import serve_in_thread
from tests.webapp.conftest import csrf_from
from webapp.extensions import db
from webapp.models import Account, Feed, Order

CONNECTOR = '''
"""Bazaar, a marketplace that exists only in this test."""

from connectors.base import Connector, OrdersIn, Setting
from connectors.http import BearerTokenProvider
from connectors.orders import BOOK, OrderLine, UnifiedOrder, money, timestamp
from connectors.pagination import OffsetPaginator
from connectors.registry import register


def line(raw):
    total = money(raw["total"])
    return OrderLine(None, raw["sku"], "Thing", 1, total, total)


@register
class BazaarConnector(Connector, OrdersIn):
    code = "bazaar"
    name = "Bazaar"
    default_base_url = "https://api.bazaar.example"
    settings = (Setting("api_key", "API key", secret=True, required=True),)

    @classmethod
    def token_provider(cls, secrets):
        return BearerTokenProvider(secrets["api_key"])

    def fetch_orders(self, updated_from):
        pages = OffsetPaginator(
            self.http, "/bazaar/orders", {"since": updated_from}, limit=2, results_key="orders"
        )
        for page in pages:
            yield [
                UnifiedOrder(
                    channel="bazaar",
                    channel_order_id=raw["ref"],
                    marketplace_status="paid",
                    status="confirmed",
                    disposition=BOOK,
                    ordered_at=timestamp(raw["at"]),
                    total=money(raw["total"]),
                    currency="EUR",
                    lines=[line(raw)],
                    raw=raw,
                )
                for raw in page
            ]

    def probe_connection(self):
        answer = self.http.get("/bazaar/me")
        return f"Bazaar knows this key as shop {answer['shop']}.", {"shop": answer["shop"]}
'''

FAKE = '''
"""The Bazaar fake: three orders, two per page, behind one API key."""

from flask import Blueprint, jsonify, request

from sandbox.fake import Fake, json_bytes

KEY = "bazaar-key-1"
ORDERS = [
    {"ref": f"BZ-{n}", "at": "2026-12-01T10:00:00Z", "total": "12.50", "sku": f"SKU-BZ-{n}"}
    for n in range(1, 4)
]
bp = Blueprint("bazaar", __name__)


def error(status, message, code="", headers=None):
    return json_bytes(jsonify({"problem": message}).get_data(), status, headers)


def authorised():
    return request.headers.get("Authorization") == f"Bearer {KEY}"


@bp.get("/bazaar/me")
def me():
    return jsonify({"shop": "acme-bazaar"}) if authorised() else error(401, "unknown key")


@bp.get("/bazaar/orders")
def orders():
    if not authorised():
        return error(401, "unknown key")
    offset, limit = int(request.args["offset"]), int(request.args["limit"])
    return jsonify({"orders": ORDERS[offset : offset + limit]})


FAKE = Fake(code="bazaar", blueprint=bp, prefixes=("/bazaar/",), error=error)
'''


@pytest.fixture
def bazaar(tmp_path, monkeypatch):
    """The Bazaar connector folder and fake module, joined to their packages; a registry
    that finds connectors as the app's does, without leaking Bazaar into other tests."""
    folder = tmp_path / "connectors" / "bazaar"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(textwrap.dedent(CONNECTOR))
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    (fakes / "bazaar.py").write_text(textwrap.dedent(FAKE))
    monkeypatch.setattr(connectors, "__path__", [*connectors.__path__, str(folder.parent)])
    monkeypatch.setattr(sandbox.fakes, "__path__", [*sandbox.fakes.__path__, str(fakes)])
    monkeypatch.setattr(
        registry, "default_registry", registry.Registry(registry.connector_packages)
    )
    yield
    for name in ("connectors.bazaar", "sandbox.fakes.bazaar"):
        sys.modules.pop(name, None)


@pytest.fixture
def served(app, bazaar):
    server = make_server("127.0.0.1", 0, create_sandbox_app({"SANDBOX_ORDERS": 1}), threaded=True)
    thread = serve_in_thread(server)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
    yield url
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def test_the_shipped_connectors_are_the_folders_found() -> None:
    assert registry.connector_packages() == registry.BUILTIN_MODULES


def test_a_new_connector_is_one_folder_and_one_fake(app, store, store_client, served) -> None:
    from webapp.orders.service import import_orders

    assert "bazaar" in registry.default_registry
    assert importlib.import_module("sandbox.fakes.bazaar").FAKE.code == "bazaar"

    # The account form comes from the connector's declared settings.
    page = store_client.get("/store/acme/accounts/new/bazaar")
    assert page.status_code == 200 and "API key" in page.text
    created = store_client.post(
        "/store/acme/accounts/new/bazaar",
        data={
            "csrf_token": csrf_from(page.text),
            "name": "Bazaar shop",
            "setting_base_url": served,
            "setting_api_key": "bazaar-key-1",
        },
    )
    assert created.status_code == 302, created.text
    account = db.session.scalars(select(Account).where(Account.connector == "bazaar")).one()

    # Its feeds follow from what it implements (orders in).
    kinds = set(db.session.scalars(select(Feed.kind).where(Feed.account_id == account.id)))
    assert kinds == {"import_orders", "recheck_parked_orders"}

    # The connection test runs its own probe against its fake.
    answer = store_client.post(
        f"/store/acme/accounts/{account.id}/test",
        data={"csrf_token": csrf_from(store_client.get("/store/acme/accounts").text)},
        headers={"HX-Request": "true"},
    )
    assert 'data-ok="yes"' in answer.text and "shop acme-bazaar" in answer.text

    # An order poll books the fake's three orders (two pages).
    run = import_orders(account)
    assert run.imported_count == 3 and run.total_processed == 3
    refs = db.session.scalars(
        select(Order.channel_order_id).where(Order.account_id == account.id)
    ).all()
    assert sorted(refs) == ["BZ-1", "BZ-2", "BZ-3"]


def test_the_sandbox_answers_faults_in_the_new_fakes_shape(bazaar) -> None:
    app = create_sandbox_app({"SANDBOX_ORDERS": 1, "SANDBOX_FAULTS": "429"})
    client = app.test_client()
    headers = {"Authorization": "Bearer bazaar-key-1"}
    answers = [client.get("/bazaar/me", headers=headers) for _ in range(10)]
    assert [a.status_code for a in answers].count(429) == 1
    assert answers[-1].get_json() == {"problem": "Too many requests"}
    assert client.get("/bazaar/me").status_code == 401
    assert "bazaar" in client.get("/").get_json()

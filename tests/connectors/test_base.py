"""Connector declarations (capabilities, settings, secrets) and the registry."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import responses

from connectors import registry
from connectors.base import (
    MASKED,
    Capability,
    Connector,
    OrdersIn,
    PricesOut,
    ProductsIn,
    Setting,
    Shipment,
    ShipsOrders,
    StockOut,
)
from connectors.http import TokenProvider
from connectors.lengow.auth import LengowTokenProvider
from connectors.registry import Registry, UnknownConnector
from tests.connectors.test_http import (
    ACCESS_TOKEN,
    ALLOW,
    ORDERS_URL,
    SECRET,
    TOKEN,
    TOKEN_URL,
    fake_resolver,
)

CONNECTORS_DIR = Path(__file__).resolve().parents[2] / "connectors"


class DemoLengow(Connector, OrdersIn, ShipsOrders):
    code = "demo_lengow"
    name = "Demo Lengow"
    default_base_url = "https://api.lengow.io"
    settings = (
        Setting("access_token", "Access token", secret=True, required=True),
        Setting("secret", "Secret", secret=True, required=True),
        Setting("lengow_account_id", "Lengow account id", required=True),
        Setting("page_size", "Orders per page", default=100),
    )
    http_options = {"reject_statuses": frozenset({530})}

    @classmethod
    def token_provider(cls, secrets: Mapping[str, Any]) -> TokenProvider | None:
        return LengowTokenProvider(secrets["access_token"], secrets["secret"])

    def orders(self) -> Any:
        return self.http.get(
            "/v3.0/orders/", params={"account_id": self.config["lengow_account_id"]}
        )

    def fetch_orders(self, updated_from: str) -> Iterator[list[Any]]:
        yield self.orders()["results"]

    def ship_order(self, channel: str, channel_order_id: str, shipment: Shipment) -> Any:
        return None


class DemoStock(Connector, StockOut, PricesOut):
    code = "demo_stock"
    name = "Demo stock"
    default_base_url = "https://stock.example.com/api"

    def push_stock(self, levels: Mapping[str, int]) -> None:
        pass

    def push_prices(self, prices: Mapping[str, Any]) -> None:
        pass


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


# --------------------------------------------------------------------------------------------
# Declarations
# --------------------------------------------------------------------------------------------


def test_capabilities_cover_the_domain() -> None:
    assert {c.value for c in Capability} == {
        "products_in",
        "orders_in",
        "order_lookup",
        "order_ack",
        "order_acceptance",
        "fulfilment_out",
        "order_cancel",
        "order_refund",
        "stock_out",
        "prices_out",
        "catalog_out",
        "digital_keys",
        "supplier_catalog",
        "order_action_tracking",
    }
    assert DemoLengow.has(Capability.ORDERS_IN) and not DemoLengow.has(Capability.STOCK_OUT)


def test_capabilities_derive_from_the_interfaces_implemented() -> None:
    assert DemoLengow.capabilities == {Capability.ORDERS_IN, Capability.FULFILMENT_OUT}
    assert DemoStock.capabilities == {Capability.STOCK_OUT, Capability.PRICES_OUT}
    assert DemoStock.supports(Capability.STOCK_OUT) and not DemoStock.supports(Capability.ORDERS_IN)
    connector = DemoStock.create(None, {}, {})
    assert connector.supports(Capability.PRICES_OUT)  # on an instance too
    assert Connector.capabilities == frozenset()

    class Child(DemoLengow):  # a subclass keeps what its parent implements
        code = "child"

    assert Child.supports(Capability.FULFILMENT_OUT)


def test_capabilities_cannot_be_declared_by_hand() -> None:
    with pytest.raises(TypeError, match="declares capabilities by hand"):

        class Liar(Connector):
            code = "liar"
            name = "Liar"
            capabilities = frozenset({Capability.ORDERS_IN})


def test_the_real_connectors_declare_what_they_implement() -> None:
    lengow, letzshop = registry.get("lengow"), registry.get("letzshop")
    assert lengow.capabilities == {
        Capability.ORDERS_IN,
        Capability.ORDER_LOOKUP,
        Capability.ORDER_ACK,
        Capability.ORDER_ACCEPTANCE,
        Capability.FULFILMENT_OUT,
        Capability.ORDER_CANCEL,
        Capability.ORDER_REFUND,
        Capability.ORDER_ACTION_TRACKING,
        Capability.CATALOG_OUT,  # the hubs pull the catalog feed (issue 15)
    }
    assert letzshop.capabilities == {
        Capability.ORDERS_IN,
        Capability.ORDER_ACCEPTANCE,
        Capability.FULFILMENT_OUT,
        Capability.CATALOG_OUT,
    }
    assert letzshop.catalog_required == ("title", "price", "image_link")
    assert "link" in lengow.catalog_required
    assert not letzshop.supports(Capability.ORDER_LOOKUP)


def test_base_url_is_always_a_setting_defaulting_to_production() -> None:
    names = [s.name for s in DemoLengow.all_settings()]
    assert names[-1] == "base_url"
    assert DemoLengow.secret_names() == {"access_token", "secret"}


def test_validate_settings_fills_defaults() -> None:
    values = DemoLengow.validate_settings(
        {"access_token": "a", "secret": "s", "lengow_account_id": 155}
    )
    assert values == {
        "access_token": "a",
        "secret": "s",
        "lengow_account_id": 155,
        "page_size": 100,
        "base_url": "https://api.lengow.io",
    }


def test_base_url_can_point_at_a_sandbox() -> None:
    values = DemoLengow.validate_settings(
        {
            "access_token": "a",
            "secret": "s",
            "lengow_account_id": 1,
            "base_url": " https://sandbox.lengow.io/ ",
        }
    )
    assert values["base_url"] == "https://sandbox.lengow.io"


def test_validate_settings_lists_every_missing_required_setting() -> None:
    with pytest.raises(ValueError) as info:
        DemoLengow.validate_settings({"access_token": "  ", "page_size": 50})
    message = str(info.value)
    assert "access_token" in message and "secret" in message and "lengow_account_id" in message
    assert "page_size" not in message


def test_validate_settings_rejects_unknown_keys_and_bad_base_urls() -> None:
    complete = {"access_token": "a", "secret": "s", "lengow_account_id": 1}
    with pytest.raises(ValueError, match="unknown settings .*: colour"):
        DemoLengow.validate_settings({**complete, "colour": "red"})
    with pytest.raises(ValueError, match="http"):
        DemoLengow.validate_settings({**complete, "base_url": "file:///etc/passwd"})


def test_connector_without_default_base_url_requires_one() -> None:
    class NoDefault(Connector):
        code = "no_default"
        name = "No default"

    with pytest.raises(ValueError, match="base_url"):
        NoDefault.validate_settings({})


def test_mask_hides_secrets_with_a_fixed_string() -> None:
    masked = DemoLengow.mask(
        {"access_token": "abcdefghijkl", "secret": "", "lengow_account_id": 155, "page_size": 10}
    )
    assert masked == {
        "access_token": MASKED,
        "secret": "",
        "lengow_account_id": 155,
        "page_size": 10,
    }
    assert DemoLengow.mask({"access_token": "x"})["access_token"] == MASKED  # length not leaked


# --------------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------------


def test_create_builds_an_account_client(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, TOKEN_URL, json={"token": TOKEN, "account_id": 155})
    rsps.add(responses.GET, ORDERS_URL, json={"count": 0, "results": []})
    connector = DemoLengow.create(
        7,
        {"lengow_account_id": 155},
        {"access_token": ACCESS_TOKEN, "secret": SECRET},
        allow=ALLOW,
        resolver=fake_resolver,
        sleep=lambda _: None,
    )
    assert connector.base_url == "https://api.lengow.io"
    assert connector.config["page_size"] == 100
    assert connector.http.reject_statuses == {530}
    assert connector.orders() == {"count": 0, "results": []}
    assert rsps.calls[1].request.headers["Authorization"] == TOKEN
    assert ACCESS_TOKEN not in repr(connector) and SECRET not in repr(connector)


def test_secrets_and_settings_must_not_be_mixed_up() -> None:
    http = DemoStock.create(None, {}, {}).http
    with pytest.raises(ValueError, match="secret settings passed as plain settings: secret"):
        DemoLengow(1, {"lengow_account_id": 1, "secret": "s"}, {"access_token": "a"}, http)
    with pytest.raises(ValueError, match="plain settings passed as secrets: lengow_account_id"):
        DemoLengow(1, {}, {"access_token": "a", "secret": "s", "lengow_account_id": 1}, http)


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


def test_registry_collects_and_looks_up() -> None:
    reg = Registry()
    assert reg.register(DemoStock) is DemoStock
    reg.register(DemoLengow)
    reg.register(DemoLengow)  # the same class again (a re-import) is harmless
    assert reg.get("demo_lengow") is DemoLengow
    assert reg.all_connectors() == [DemoLengow, DemoStock]
    assert reg.with_capability(Capability.STOCK_OUT) == [DemoStock]
    assert reg.with_capability(Capability.DIGITAL_KEYS) == []
    assert "demo_stock" in reg and "nope" not in reg
    with pytest.raises(UnknownConnector, match="no connector is registered with code 'nope'"):
        reg.get("nope")
    with pytest.raises(KeyError):
        reg.get("nope")


def test_registry_refuses_a_duplicate_code() -> None:
    reg = Registry()
    reg.register(DemoLengow)

    class Impostor(Connector):
        code = "demo_lengow"
        name = "Impostor"

    with pytest.raises(ValueError, match="'demo_lengow' is already registered"):
        reg.register(Impostor)
    assert reg.get("demo_lengow") is DemoLengow


def test_registry_refuses_incomplete_declarations() -> None:
    class NoCode(Connector):
        name = "No code"

    class Twice(Connector):
        code = "twice"
        name = "Twice"
        settings = (Setting("a", "A"), Setting("a", "A again"))

    class HalfBuilt(Connector, OrdersIn):  # lists orders in, has no fetch_orders
        code = "half_built"
        name = "Half built"

    reg = Registry()
    for cls in (NoCode, Twice, HalfBuilt):
        with pytest.raises(ValueError):
            reg.register(cls)
    with pytest.raises(ValueError, match="does not implement: fetch_orders"):
        reg.register(HalfBuilt)
    with pytest.raises(TypeError):
        reg.register(object)  # type: ignore[arg-type]


def test_module_level_register_is_a_decorator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "default_registry", Registry())

    @registry.register
    class Decorated(Connector, ProductsIn):
        code = "decorated"
        name = "Decorated"

        def fetch_products(self, updated_from: str | None) -> Iterator[list[dict[str, Any]]]:
            yield []

    assert registry.get("decorated") is Decorated
    assert registry.all_connectors() == [Decorated]
    assert registry.with_capability(Capability.PRODUCTS_IN) == [Decorated]


def test_registry_imports_its_modules_on_first_use() -> None:
    reg = Registry(["tests.connectors.no_such_module"])
    with pytest.raises(ModuleNotFoundError):
        reg.all_connectors()


# --------------------------------------------------------------------------------------------
# Connectors know nothing of Flask
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted(CONNECTORS_DIR.rglob("*.py")),
    ids=lambda p: str(p.relative_to(CONNECTORS_DIR)),
)
def test_connectors_do_not_import_flask_or_the_webapp(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.append(node.module)
    roots = {name.split(".")[0] for name in imported}
    assert not roots & {"flask", "flask_sqlalchemy", "flask_login", "webapp", "jobs"}

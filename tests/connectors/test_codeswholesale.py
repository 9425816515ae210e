"""The CodesWholesale connector against its sandbox fake over real HTTP: token, catalogue
(v2 in one answer, v3 page by page), purchases returning text, image and pre-order codes,
each graded refusal, a purchase whose answer never comes back, 429s, the balance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
import requests

from connectors import registry
from connectors.codeswholesale import (
    BalanceTooLow,
    CodesWholesaleConnector,
    GoneFromPriceList,
    OutOfStock,
    SupplierRefusal,
)
from connectors.codeswholesale.auth import normalize_token
from connectors.codeswholesale.payloads import UnreadableProduct
from connectors.egress import parse_allowlist
from connectors.errors import AuthError, RateLimited, RequestRejected, RetryableError
from connectors.suppliers import CODE_IMAGE, CODE_PRE_ORDER, CODE_TEXT, SupplierProduct
from tests.conftest import real_fixture
from tests.sandbox_server import served_sandbox

CLIENT_ID, CLIENT_SECRET = "sandbox-cw-client", "sandbox-cw-secret"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with served_sandbox(1, SANDBOX_CW_PRODUCTS=60, SANDBOX_CW_PAGE_SIZE=25) as base:
        yield base


@pytest.fixture(autouse=True)
def clean(url):
    requests.post(f"{url}/_sandbox/reset", timeout=5)  # the fake's state is built anew
    yield


def connect(url: str, version: str = "v2", secret: str = CLIENT_SECRET, **http):
    options = {"backoff_base": 0.01, "max_retry_after": 0.05, **http}
    return registry.get("codeswholesale").create(
        7,
        {"client_id": CLIENT_ID, "base_url": url, "api_version": version},
        {"client_secret": secret},
        allow=parse_allowlist([url.removeprefix("http://")]),
        **options,
    )


def sales(url: str) -> dict:
    return requests.get(f"{url}/_sandbox/codeswholesale", timeout=5).json()


def examples(url: str) -> dict[str, list[str]]:
    return requests.get(f"{url}/_sandbox/state", timeout=5).json()["codeswholesale"]["examples"]


def fault(url: str, **spec) -> None:
    answer = requests.post(f"{url}/_sandbox/codeswholesale/faults", json=spec, timeout=5)
    assert answer.status_code == 200, answer.text


def test_the_connector_is_registered_with_what_it_can_do():
    cls = registry.get("codeswholesale")
    assert cls is CodesWholesaleConnector
    assert {c.value for c in cls.capabilities} == {"supplier_catalog", "digital_keys"}
    assert cls.secret_names() == {"client_secret"}
    sandbox = cls.validate_settings({"client_id": "a", "client_secret": "b", "base_url": "sandbox"})
    assert sandbox["base_url"] == "https://sandbox.codeswholesale.com"
    live = cls.validate_settings({"client_id": "a", "client_secret": "b"})
    assert live["base_url"] == "https://api.codeswholesale.com"
    assert live["api_version"] == "v2" and live["currency"] == "EUR"
    with pytest.raises(ValueError, match="API version"):
        cls.validate_settings({"client_id": "a", "client_secret": "b", "api_version": "v9"})


def test_both_token_shapes_are_read():
    assert normalize_token(
        {"access_token": "t1", "token_type": "bearer", "expires_in": 120}, 0
    ) == ("t1", 120)
    token, lifetime = normalize_token(
        {"value": "t2", "tokenType": "bearer", "expiration": "1970-01-01T00:10:00Z"}, 0
    )
    assert (token, lifetime) == ("t2", 600)
    assert normalize_token({"value": "t3", "expired": True, "expiresIn": 99}, 0) == ("t3", 0)
    with pytest.raises(AuthError):
        normalize_token({"token_type": "bearer"}, 0)


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_one_token_serves_many_calls_and_a_dead_one_is_renewed(url, version):
    connector = connect(url, version)
    provider = connector.http.token_provider
    connector.account_balance()
    connector.account_balance()
    assert provider.renewals == 1  # cached until it expires
    requests.post(f"{url}/_sandbox/tokens/expire", timeout=5)  # dies early on the server
    connector.account_balance()
    assert provider.renewals == 2  # a 401 "invalid_token" fetched a new one once


def test_bad_credentials_fail_the_connection_test_without_the_secret(url):
    result = connect(url, secret="wrong-secret-value").test_connection()
    assert not result.ok
    assert "wrong-secret-value" not in result.message and "401" in result.message
    good = connect(url).test_connection()
    assert good.ok and "Sandbox Digital" in good.message and "EUR" in good.message


def test_v2_reads_the_catalogue_in_one_answer_and_v3_follows_the_continuation(url):
    before = requests.get(f"{url}/_sandbox/state", timeout=5).json()["counters"]["pages_served"]
    v2 = list(connect(url, "v2").fetch_catalog())
    middle = requests.get(f"{url}/_sandbox/state", timeout=5).json()["counters"]["pages_served"]
    v3 = list(connect(url, "v3").fetch_catalog())
    after = requests.get(f"{url}/_sandbox/state", timeout=5).json()["counters"]["pages_served"]
    assert len(v2) == 1 and middle - before == 1
    assert [len(p) for p in v3] == [25, 25, 10] and after - middle == 3
    ids_v2 = [p.product_id for p in v2[0]]
    ids_v3 = [p.product_id for page in v3 for p in page]
    assert ids_v2 == ids_v3 and len(set(ids_v2)) == 60
    product = v3[0][0]
    assert isinstance(product, SupplierProduct)
    assert product.prices[0].from_quantity == 1 and product.price == product.prices[0].value
    # v3 sends tiers without "to"; v2 with it: the cost of one key is the same.
    assert {p.product_id: p.price for p in v2[0]} == {
        p.product_id: p.price for page in v3 for p in page
    }


def test_a_text_an_image_and_a_pre_order_purchase(url):
    connector = connect(url)
    kinds = examples(url)
    text = connector.buy_keys("MER-text-1", kinds["text"][0], 2)
    assert text.client_order_id == "MER-text-1" and len(text.codes) == 2
    assert all(c.kind == CODE_TEXT and c.ready and len(c.code) == 17 for c in text.codes)
    assert "*" in repr(text.codes[0]) and text.codes[0].code not in repr(text.codes[0])

    image = connector.buy_keys("MER-image-1", kinds["image"][0], 1)
    (code,) = image.codes
    assert code.kind == CODE_IMAGE and code.filename.endswith(".png")
    assert code.image_bytes().startswith(PNG_MAGIC)

    pre = connector.buy_keys("MER-pre-1", kinds["pre_order"][0], 1)
    (waiting,) = pre.codes
    assert waiting.kind == CODE_PRE_ORDER and waiting.code is None and not waiting.ready
    requests.post(f"{url}/_sandbox/codeswholesale/preorders/assign", timeout=5)
    assigned = connector.fetch_code(waiting.code_id)
    assert assigned.kind == CODE_TEXT and assigned.ready

    sold = sales(url)["sold_by_reference"]
    assert sold["MER-text-1"] == 2 and sold["MER-image-1"] == 1 and sold["MER-pre-1"] == 1


@pytest.mark.parametrize(
    ("switch", "cls", "code", "status"),
    [
        ("out_of_stock", OutOfStock, 310003, 400),
        ("balance_too_low", BalanceTooLow, 10002, 400),
        ("gone", GoneFromPriceList, 20001, 404),
    ],
)
def test_each_graded_refusal_is_retryable_with_backoff_and_buys_nothing(
    url, switch, cls, code, status
):
    connector = connect(url, "v3")
    product = examples(url)["text"][1]
    keys_before = sales(url)["keys_sold"]
    fault(url, **{switch: {"times": 1}})
    with pytest.raises(cls) as raised:
        connector.buy_keys(f"MER-{switch}", product, 1)
    exc = raised.value
    assert isinstance(exc, SupplierRefusal) and isinstance(exc, RetryableError)
    assert exc.severity == "retry" and exc.code == code and exc.status_code == status
    assert exc.said and exc.said in str(exc)
    assert exc.delay_before(1) > 0 and exc.delay_before(len(exc.retry_delays) + 1) is None
    assert not exc.outcome_unknown  # refused: nothing was bought
    assert sales(url)["keys_sold"] == keys_before
    # Only the next purchase was refused: the retry buys.
    order = connector.buy_keys(f"MER-{switch}", product, 1)
    assert len(order.codes) == 1
    assert sales(url)["sold_by_reference"][f"MER-{switch}"] == 1


def test_real_stock_and_balance_are_enforced_too(url):
    connector = connect(url)
    product = examples(url)["text"][2]
    requests.post(
        f"{url}/_sandbox/codeswholesale/products/{product}", json={"quantity": 1}, timeout=5
    )
    with pytest.raises(OutOfStock):
        connector.buy_keys("MER-too-many", product, 2)
    requests.post(
        f"{url}/_sandbox/codeswholesale/products/{product}", json={"listed": False}, timeout=5
    )
    with pytest.raises(GoneFromPriceList):
        connector.buy_keys("MER-delisted", product, 1)
    # Any other refusal is no graded one: a person looks.
    with pytest.raises(RequestRejected) as other:
        connector.http.request("POST", "/v2/orders", json={"products": "nope"})
    assert not isinstance(other.value, SupplierRefusal) and other.value.severity == "error"


def test_a_purchase_whose_answer_never_comes_is_found_by_its_reference(url):
    connector = connect(url, read_timeout=0.5)
    product = examples(url)["text"][4]
    fault(url, lost_answer={"seconds": 1.5})
    with pytest.raises(RetryableError) as lost:
        connector.buy_keys("MER-lost-1", product, 3)
    assert lost.value.outcome_unknown  # the POST was not repeated by the HTTP layer
    assert sales(url)["orders_by_reference"]["MER-lost-1"] == 1  # ... and it did buy

    found = connector.find_purchase("MER-lost-1", date.today())
    assert found is not None and found.client_order_id == "MER-lost-1"
    assert len(found.codes) == 3 and all(c.ready for c in found.codes)
    assert connector.find_purchase("MER-never-sent") is None
    assert sales(url)["sold_by_reference"]["MER-lost-1"] == 3  # bought once, never twice


def test_429s_are_waited_out(url):
    requests.post(
        f"{url}/_sandbox/faults", json={"rate_limit": {"every": 2, "retry_after": 0}}, timeout=5
    )
    connector = connect(url, "v3")
    pages = list(connector.fetch_catalog())
    assert sum(len(p) for p in pages) == 60
    assert requests.get(f"{url}/_sandbox/state", timeout=5).json()["counters"]["rate_limited"] > 0
    requests.post(
        f"{url}/_sandbox/faults", json={"rate_limit": {"every": 1, "retry_after": 0}}, timeout=5
    )
    with pytest.raises(RateLimited):
        connect(url, max_attempts=2).account_balance()


def test_the_balance_follows_the_purchases(url):
    connector = connect(url)
    before = connector.account_balance()
    order = connector.buy_keys("MER-balance", examples(url)["text"][0], 1)
    after = connector.account_balance()
    assert before.total_to_use - after.total_to_use == order.total_price
    assert after.name == "Sandbox Digital"


def test_the_purchase_is_an_outbound_request_recorded_as_data(url):
    connector = connect(url)
    request = connector.outbound_request(
        "supplier.buy_keys",
        {"reference": "MER-9", "product_id": "p-1", "quantity": 2, "unit_price": "4.50"},
    )
    assert request.method == "POST" and request.path == "/v2/orders"
    assert not request.idempotent
    assert request.body == {
        "allowPreOrder": True,
        "orderId": "MER-9",
        "products": [{"productId": "p-1", "quantity": 2, "price": 4.5}],
    }
    assert CLIENT_SECRET not in str(connector.describe(request))


def test_the_real_dump_is_served_and_read_whole():
    dump = real_fixture("codeswholesale", "cw_products_catalog_dump_2018.csv")
    with served_sandbox(1, SANDBOX_CW_CATALOG=str(dump), SANDBOX_CW_PAGE_SIZE=500) as base:
        for version, pages in (("v2", 1), ("v3", 5)):
            read = list(connect(base, version).fetch_catalog())
            assert len(read) == pages
            products = [p for page in read for p in page]
            assert len(products) == 2383
            assert not [p for p in products if isinstance(p, UnreadableProduct)]
            assert sum(1 for p in products if p.release_date is None) == 263
            assert sum(1 for p in products if p.platform is None) == 22

"""ShoppingFeed (API v1, HAL): stock and prices out, the inventory read back.

What CONNECTORS.md section 7 records ([V]): a long-lived API token sent as a bearer token;
``PUT /v1/store/{storeId}/inventory`` with ``{"inventory": [{reference, quantity}]}`` and the
pricing update with ``{"pricing": [{reference, price}]}``, in chunks of 100; one inventory item
read with ``GET .../inventory?reference=SKU``; the prices read back the way the official SDK
documents (:data:`.unverified.PRICING_LIST_PATH`, not in CONNECTORS.md); on 429 the wait in
``X-RateLimit-Wait`` (fractional seconds), honoured by the HTTP layer; 5xx retried with
backoff (a PUT sets a state, so repeating it is safe). What it leaves open is in :mod:`.unverified`.

Each batch is an outbound call (:meth:`outbound_request`): the web app records it first and
sends it once (``webapp.outbound``); :meth:`push_stock` and :meth:`push_prices` send directly,
for a caller outside the app.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from connectors.base import CatalogOut, Connector, OutboundRequest, PricesOut, Setting, StockOut
from connectors.errors import ConnectorError
from connectors.http import BearerTokenProvider
from connectors.registry import register
from connectors.shoppingfeed.unverified import (
    BEARER_PREFIX,
    INVENTORY_LIST_LIMIT,
    INVENTORY_LIST_PATH,
    PRICE_SENT,
    PRICING_LIST_LIMIT,
    PRICING_LIST_PATH,
    PRICING_PATH,
)

__all__ = [
    "BATCH_SIZE",
    "INVENTORY_UPDATE",
    "PRICING_UPDATE",
    "ShoppingFeedConnector",
    "chunks",
    "price_sent",
]

DEFAULT_BASE_URL = "https://api.shopping-feed.com"
ME_PATH = "/v1/me"
INVENTORY_PATH = "/v1/store/{store_id}/inventory"
# The SDK's chunk size for both updates (InventoryUpdate.php, PricingUpdate.php).
BATCH_SIZE = 100
# Outbound actions (webapp.models.outbound): one batch of stock levels, one batch of prices.
INVENTORY_UPDATE = "stock.inventory"
PRICING_UPDATE = "price.pricing"


def chunks(items: list, size: int = BATCH_SIZE) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _money(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def price_sent(price: Any, sale_price: Any) -> float | None:
    """The one ``price`` ShoppingFeed gets for a product (:data:`.unverified.PRICE_SENT`): the
    sale price when set and below the price, otherwise the price. Money is a JSON number."""
    regular, sale = _money(price), _money(sale_price)
    if PRICE_SENT == "sale_price_else_price" and sale is not None:
        if regular is None or sale < regular:
            return float(sale)
    return None if regular is None else float(regular)


@register
class ShoppingFeedConnector(Connector, StockOut, PricesOut, CatalogOut):
    code = "shoppingfeed"
    name = "ShoppingFeed"
    default_base_url = DEFAULT_BASE_URL
    settings = (
        Setting("store_id", "ShoppingFeed store id", required=True, help="e.g. 29573"),
        Setting(
            "api_token",
            "API token",
            secret=True,
            required=True,
            help="The store's long-lived API token (ShoppingFeed back office, API).",
        ),
    )
    http_options = MappingProxyType({"rate_limit_wait_header": "X-RateLimit-Wait"})

    @classmethod
    def token_provider(cls, secrets):
        return BearerTokenProvider(secrets["api_token"], scheme=BEARER_PREFIX)

    def _path(self, template: str) -> str:
        return template.format(store_id=self.config["store_id"])

    # -- outbound: one batch per call ----------------------------------------------------------

    outbound_actions = frozenset({INVENTORY_UPDATE, PRICING_UPDATE})

    def outbound_request(self, action: str, params: Mapping[str, Any]) -> OutboundRequest:
        """``params["items"]``: up to :data:`BATCH_SIZE` items, ``{reference, quantity}`` for
        stock, ``{reference, price, sale_price, currency}`` for prices."""
        items = list(params.get("items") or [])
        if len(items) > BATCH_SIZE:
            raise ValueError(f"ShoppingFeed takes at most {BATCH_SIZE} items per update")
        if action == INVENTORY_UPDATE:
            body = {
                "inventory": [
                    {"reference": str(i["reference"]), "quantity": max(0, int(i["quantity"]))}
                    for i in items
                ]
            }
            return OutboundRequest("PUT", self._path(INVENTORY_PATH), body, idempotent=True)
        if action == PRICING_UPDATE:
            body = {
                "pricing": [
                    {
                        "reference": str(i["reference"]),
                        "price": price_sent(i.get("price"), i.get("sale_price")),
                    }
                    for i in items
                ]
            }
            return OutboundRequest("PUT", self._path(PRICING_PATH), body, idempotent=True)
        return super().outbound_request(action, params)

    def push_stock(self, levels: Mapping[str, int]) -> Any:
        """Send stock levels by SKU now, a batch at a time; the answers, in order."""
        items = [{"reference": sku, "quantity": qty} for sku, qty in levels.items()]
        return [
            self.send(self.outbound_request(INVENTORY_UPDATE, {"items": batch}))
            for batch in chunks(items)
        ]

    def push_prices(self, prices: Mapping[str, Decimal]) -> Any:
        items = [{"reference": sku, "price": str(price)} for sku, price in prices.items()]
        return [
            self.send(self.outbound_request(PRICING_UPDATE, {"items": batch}))
            for batch in chunks(items)
        ]

    # -- reading back ----------------------------------------------------------------------------

    def fetch_inventory_item(self, reference: str) -> int | None:
        """The quantity ShoppingFeed shows for one SKU ([V]); None when it has none."""
        page = self.http.request("GET", self._path(INVENTORY_PATH), params={"reference": reference})
        for item in _embedded(page, "inventory"):
            if str(item.get("reference")) == reference:
                return _quantity(item)
        return None

    def fetch_inventory(self) -> Iterator[dict[str, int]]:
        """Everything the store's inventory shows, a page at a time: ``{reference: quantity}``
        (the listing is :data:`.unverified.INVENTORY_LIST_PATH`)."""
        return self._listing(INVENTORY_LIST_PATH, INVENTORY_LIST_LIMIT, "inventory", _quantity)

    def fetch_pricing(self) -> Iterator[dict[str, Decimal]]:
        """Every price the store shows, a page at a time: ``{reference: price}`` (the listing
        is :data:`.unverified.PRICING_LIST_PATH`: the SDK's, unverified)."""
        return self._listing(PRICING_LIST_PATH, PRICING_LIST_LIMIT, "pricing", _price)

    def _listing(self, path: str, limit: int, key: str, value) -> Iterator[dict]:
        page_no = 1
        while True:
            page = self.http.request(
                "GET", self._path(path), params={"page": page_no, "limit": limit}
            )
            if not isinstance(page, dict):
                raise ConnectorError(f"ShoppingFeed's {key} answer is not an object")
            found = {}
            for item in _embedded(page, key):
                read = value(item)
                if item.get("reference") is not None and read is not None:
                    found[str(item["reference"])] = read
            yield found
            pages = page.get("pages")
            if not isinstance(pages, int) or page_no >= pages or not found:
                return
            page_no += 1

    # -- connection test -------------------------------------------------------------------------

    def probe_connection(self) -> tuple[str, Mapping[str, Any]]:
        """``GET /v1/me`` with the token: the session's stores must include the account's."""
        me = self.http.request("GET", ME_PATH)
        stores = _embedded(me, "store")
        wanted = str(self.config["store_id"])
        names = {str(s.get("id")): s.get("name") for s in stores if isinstance(s, dict)}
        if wanted not in names:
            raise ConnectorError(
                f"ShoppingFeed accepted the token, but store {wanted} is not among its "
                f"{len(names)} store(s)"
            )
        name = names[wanted]
        label = f" ({name})" if name else ""
        return (
            f"ShoppingFeed accepted the token for store {wanted}{label}.",
            {"store": name} if name else {},
        )


def _embedded(payload: Any, key: str) -> list[dict]:
    if not isinstance(payload, dict):
        return []
    found = (payload.get("_embedded") or {}).get(key)
    return [item for item in found or [] if isinstance(item, dict)]


def _price(item: Mapping[str, Any]) -> Decimal | None:
    value = item.get("price")
    if isinstance(value, bool) or value is None:
        return None
    try:
        price = Decimal(str(value))
    except ArithmeticError:
        return None
    return price if price.is_finite() else None


def _quantity(item: Mapping[str, Any]) -> int | None:
    value = item.get("quantity")
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

"""CodesWholesale, a digital-key supplier (API v2, official; v3 from the community SDK).

What it does for an account: its catalogue (:class:`SupplierCatalog`: v2 in one answer, v3
page by page with a continuation token), and keys (:class:`DigitalKeys`): a purchase under
Mercato's own reference, that reference looked up in the order history (a purchase whose
answer was lost may have bought: CodesWholesale rejects no repeat, so a retried POST could buy
twice), one code read again (a pre-order's, once assigned), the account's balance.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from connectors.base import (
    BASE_URL,
    Connector,
    DigitalKeys,
    OutboundRequest,
    Setting,
    SupplierCatalog,
)
from connectors.codeswholesale.auth import CodesWholesaleTokenProvider
from connectors.codeswholesale.errors import grade
from connectors.codeswholesale.payloads import (
    UnreadableProduct,
    parse_balance,
    parse_code,
    parse_order,
    parse_product,
)
from connectors.codeswholesale.unverified import (
    DEFAULT_CURRENCY,
    HISTORY_DAYS_AROUND,
    HISTORY_ITEMS_KEY,
    V3_CONTINUATION_KEY,
    V3_CONTINUATION_PARAM,
)
from connectors.egress import Allowlist, Resolver
from connectors.errors import ConnectorError
from connectors.http import ConnectorHttp
from connectors.pagination import NextTokenPaginator
from connectors.registry import register
from connectors.suppliers import AccountBalance, SupplierCode, SupplierOrder, SupplierProduct

__all__ = [
    "API_VERSIONS",
    "BUY_KEYS",
    "LIVE_BASE_URL",
    "SANDBOX_BASE_URL",
    "CodesWholesaleConnector",
]

LIVE_BASE_URL = "https://api.codeswholesale.com"
SANDBOX_BASE_URL = "https://sandbox.codeswholesale.com"
# ``base_url`` may name one of these instead of a URL.
ENVIRONMENTS = MappingProxyType({"live": LIVE_BASE_URL, "sandbox": SANDBOX_BASE_URL})
API_VERSIONS = ("v2", "v3")
# The outbound action that buys keys (recorded, then sent once, like every outbound call).
BUY_KEYS = "supplier.buy_keys"


@register
class CodesWholesaleConnector(Connector, SupplierCatalog, DigitalKeys):
    code = "codeswholesale"
    name = "CodesWholesale"
    default_base_url = LIVE_BASE_URL
    settings = (
        Setting("client_id", "Client id", required=True),
        Setting("client_secret", "Client secret", secret=True, required=True),
        Setting(
            BASE_URL,
            "API base URL",
            required=True,
            default=LIVE_BASE_URL,
            help=(
                f"Live {LIVE_BASE_URL} (default) or CodesWholesale's sandbox {SANDBOX_BASE_URL} "
                "(fake codes); 'live' or 'sandbox' name them."
            ),
        ),
        Setting(
            "api_version",
            "API version",
            default="v2",
            help="v2 (the official SDK's) or v3 (the catalogue read page by page).",
        ),
        Setting(
            "currency",
            "Currency of the account",
            default=DEFAULT_CURRENCY,
            help="CodesWholesale's prices carry no currency: the account's, e.g. EUR.",
        ),
        Setting(
            "balance_alert_below",
            "Alert when the balance is below",
            help=(
                "The balance is read every hour; below this amount (in the account's "
                "currency) an alert waits in the inbox. Empty: no alert."
            ),
        ),
    )
    http_options = MappingProxyType({"error_hook": grade})

    @classmethod
    def validate_settings(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        values = dict(values)
        named = values.get(BASE_URL)
        if isinstance(named, str) and named.strip().lower() in ENVIRONMENTS:
            values[BASE_URL] = ENVIRONMENTS[named.strip().lower()]
        result = super().validate_settings(values)
        version = str(result.get("api_version") or "v2").strip().lower()
        if version not in API_VERSIONS:
            raise ValueError(f"the API version must be one of {', '.join(API_VERSIONS)}")
        result["api_version"] = version
        currency = str(result.get("currency") or DEFAULT_CURRENCY).strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ValueError("the currency must be a three-letter code such as EUR")
        result["currency"] = currency
        threshold = result.get("balance_alert_below")
        if threshold not in (None, ""):
            try:
                amount = Decimal(str(threshold).strip().replace(",", "."))
            except ArithmeticError:
                raise ValueError(
                    "the balance alert threshold must be an amount such as 50"
                ) from None
            if not amount.is_finite() or amount < 0:
                raise ValueError("the balance alert threshold must be an amount such as 50")
            result["balance_alert_below"] = str(amount)
        return result

    @classmethod
    def create(
        cls,
        account_id: int | str | None,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        *,
        allow: Allowlist = frozenset(),
        resolver: Resolver | None = None,
        **http_kwargs: Any,
    ) -> Connector:
        """As :meth:`Connector.create`; the token provider needs the client id (a setting)
        and the API version as well as the secret, so it is built here."""
        values = cls.validate_settings({**settings, **secrets})
        provider = CodesWholesaleTokenProvider(
            str(values["client_id"]),
            str(values["client_secret"]),
            api_version=values["api_version"],
        )
        http = ConnectorHttp(
            values[BASE_URL],
            allow=allow,
            resolver=resolver,
            token_provider=provider,
            **{**cls.http_options, **http_kwargs},
        )
        return cls(account_id, settings, secrets, http)

    # -- helpers -------------------------------------------------------------------------------

    @property
    def version(self) -> str:
        return str(self.config["api_version"])

    @property
    def currency(self) -> str:
        return str(self.config["currency"])

    def _path(self, tail: str) -> str:
        return f"/{self.version}/{tail.lstrip('/')}"

    # -- catalogue -----------------------------------------------------------------------------

    def fetch_catalog(
        self, updated_since: str | None = None
    ) -> Iterator[list[SupplierProduct | UnreadableProduct]]:
        """Every product, a page at a time.  v2 answers the whole list at once ``{items}``;
        v3 pages ``{items, continuationToken}`` until no token comes (``updatedSince`` asks
        only for what changed).  A record that is no product comes as an
        :class:`UnreadableProduct` in its page (the feed reports it)."""
        if self.version == "v2":
            payload = self.http.get(self._path("products"))
            items = payload.get("items") if isinstance(payload, dict) else None
            if not isinstance(items, list):
                raise ConnectorError("CodesWholesale's catalogue answer has no list of items")
            pages: Any = [items]
        else:
            params = {"updatedSince": updated_since} if updated_since else {}
            pages = NextTokenPaginator(
                self.http,
                self._path("products"),
                params,
                results_key="items",
                token_key=V3_CONTINUATION_KEY,
                token_param=V3_CONTINUATION_PARAM,
            )
        for page in pages:
            yield [_product_or_unreadable(raw) for raw in page]

    # -- keys ----------------------------------------------------------------------------------

    outbound_actions = frozenset({BUY_KEYS})

    def outbound_request(self, action: str, params: Mapping[str, Any]) -> OutboundRequest:
        """``supplier.buy_keys`` (params: reference, product_id, quantity, unit_price?,
        allow_pre_order?) as data, for the outbound recorder: not idempotent."""
        if action == BUY_KEYS:
            price = params.get("unit_price")
            body = self.purchase_body(
                str(params["reference"]),
                str(params["product_id"]),
                int(params["quantity"]),
                unit_price=Decimal(str(price)) if price is not None else None,
                allow_pre_order=bool(params.get("allow_pre_order", True)),
            )
            return OutboundRequest("POST", self._path("orders"), body, idempotent=False)
        return super().outbound_request(action, params)

    def purchase_body(
        self,
        reference: str,
        product_id: str,
        quantity: int,
        *,
        unit_price: Decimal | None = None,
        allow_pre_order: bool = True,
    ) -> dict[str, Any]:
        """The body of ``POST /vN/orders``: one product line, Mercato's reference as the
        ``orderId`` (echoed back as ``clientOrderId``), ``price`` the unit price to validate."""
        if not reference or not product_id:
            raise ValueError("a purchase needs a reference and a product id")
        if quantity < 1:
            raise ValueError("a purchase buys at least one key")
        line: dict[str, Any] = {"productId": product_id, "quantity": int(quantity)}
        if unit_price is not None:
            line["price"] = float(unit_price)
        return {"allowPreOrder": bool(allow_pre_order), "orderId": reference, "products": [line]}

    def buy_keys(
        self,
        reference: str,
        product_id: str,
        quantity: int,
        *,
        unit_price: Decimal | None = None,
        allow_pre_order: bool = True,
    ) -> SupplierOrder:
        """Buy keys.  Never repeated by the HTTP layer (a POST): a lost answer raises a
        RetryableError with ``outcome_unknown``, and :meth:`find_purchase` says whether it
        bought.  A graded refusal (out of stock, balance too low, gone from the price list)
        raises its :class:`~connectors.codeswholesale.errors.SupplierRefusal`."""
        params = {
            "reference": reference,
            "product_id": product_id,
            "quantity": quantity,
            "unit_price": str(unit_price) if unit_price is not None else None,
            "allow_pre_order": allow_pre_order,
        }
        payload = self.send(self.outbound_request(BUY_KEYS, params))
        try:
            return parse_order(payload)
        except ValueError as exc:
            raise ConnectorError(f"CodesWholesale's order answer is unreadable: {exc}") from None

    def fetch_order(self, order_id: str) -> SupplierOrder:
        payload = self.http.get(self._path(f"orders/{order_id}"))
        try:
            return parse_order(payload)
        except ValueError as exc:
            raise ConnectorError(f"CodesWholesale's order answer is unreadable: {exc}") from None

    def history(self, start: date, end: date) -> list[SupplierOrder]:
        """The account's orders placed from ``start`` to ``end`` (days, inclusive)."""
        payload = self.http.get(
            self._path("orders"),
            params={"startFrom": start.isoformat(), "endOn": end.isoformat()},
        )
        items = payload.get(HISTORY_ITEMS_KEY) if isinstance(payload, dict) else payload
        if not isinstance(items, list):
            raise ConnectorError("CodesWholesale's order history answer has no list of orders")
        orders = []
        for raw in items:
            try:
                orders.append(parse_order(raw))
            except ValueError:
                continue
        return orders

    def find_purchase(self, reference: str, placed_on: date | None = None) -> SupplierOrder | None:
        """The order bought under ``reference`` (the history around ``placed_on``, today by
        default), read in full (with its codes); None when the supplier has none."""
        day = placed_on or date.today()
        around = timedelta(days=HISTORY_DAYS_AROUND)
        found = [
            o for o in self.history(day - around, day + around) if o.client_order_id == reference
        ]
        if not found:
            return None
        if len(found) > 1:
            raise ConnectorError(
                f"CodesWholesale holds {len(found)} orders under the reference {reference}: "
                "a person must look"
            )
        order = found[0]
        return order if order.lines and order.codes else self.fetch_order(order.order_id)

    def fetch_code(self, code_id: str) -> SupplierCode:
        payload = self.http.get(self._path(f"codes/{code_id}"))
        try:
            return parse_code(payload)
        except ValueError as exc:
            raise ConnectorError(f"CodesWholesale's code answer is unreadable: {exc}") from None

    def account_balance(self) -> AccountBalance:
        payload = self.http.get(self._path("accounts/current"))
        try:
            return parse_balance(payload)
        except ValueError as exc:
            raise ConnectorError(f"CodesWholesale's account answer is unreadable: {exc}") from None

    # -- connection test -------------------------------------------------------------------------

    def probe_connection(self) -> tuple[str, Mapping[str, Any]]:
        """A token from the client credentials, then the account's balance."""
        balance = self.account_balance()
        details: dict[str, Any] = {"api_version": self.version}
        said = ""
        if balance.total_to_use is not None:
            details["total_to_use"] = f"{balance.total_to_use} {self.currency}"
            said = f"; {balance.total_to_use} {self.currency} to spend"
        who = f" for {balance.name}" if balance.name else ""
        return f"CodesWholesale accepted the client credentials{who}{said}.", details


def _product_or_unreadable(raw: Any) -> SupplierProduct | UnreadableProduct:
    try:
        return parse_product(raw)
    except UnreadableProduct as exc:
        return exc

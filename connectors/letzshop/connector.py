"""Letzshop (GraphQL): orders in, fulfilment out; product feeds come in as CSV imports.

The API token is static (``Authorization: Bearer``); every call is a POST of a GraphQL
document (:mod:`.queries`) to the account's base URL, and a GraphQL ``errors`` list is a
refusal even under HTTP 200.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.base import Connector, OrdersIn, Setting, Shipment, ShipsOrders
from connectors.errors import RequestRejected
from connectors.http import BearerTokenProvider
from connectors.letzshop.orders import normalize_order
from connectors.letzshop.queries import FULFILMENT_MUTATION, ORDERS_QUERY
from connectors.orders import UnifiedOrder
from connectors.pagination import CursorPaginator
from connectors.registry import register

__all__ = ["LetzshopConnector"]

DEFAULT_BASE_URL = "https://letzshop.lu/graphql"


@register
class LetzshopConnector(Connector, OrdersIn, ShipsOrders):
    code = "letzshop"
    name = "Letzshop"
    default_base_url = DEFAULT_BASE_URL
    settings = (Setting("api_token", "API token", secret=True, required=True),)

    @classmethod
    def token_provider(cls, secrets):
        return BearerTokenProvider(secrets["api_token"])

    def _orders(self, variables: Mapping[str, Any]) -> CursorPaginator:
        return CursorPaginator(self.http, self.base_url, ORDERS_QUERY, variables, "orders")

    def fetch_orders(self, updated_from: str) -> Iterator[list[UnifiedOrder]]:
        """Orders updated since ``updated_from``, a GraphQL cursor page at a time.

        If Letzshop's cursors are offsets over an ``updatedAt`` ordering, an order that
        changes while pages are read can push an unchanged one onto a page already read;
        the next poll's overlap does not catch that one, so a periodic full re-read is the
        remedy (with the feeds' schedules).
        """
        for page in self._orders({"since": updated_from, "first": 100}):
            yield [normalize_order(node) for node in page]

    def ship_order(self, channel: str, channel_order_id: str, shipment: Shipment) -> Any:
        """The tracking of a shipped order (seed 001's mutation, unverified: see .queries)."""
        tracking = {
            "trackingNumber": shipment.tracking_number,
            "carrier": shipment.carrier,
            "trackingUrl": shipment.tracking_url,
        }
        variables = {
            "orderId": channel_order_id,
            "input": {"status": "SHIPPED", "tracking": {k: v for k, v in tracking.items() if v}},
        }
        answer = self.http.request(
            "POST", self.base_url, json={"query": FULFILMENT_MUTATION, "variables": variables}
        )
        payload = (answer or {}).get("data", {}) if isinstance(answer, dict) else {}
        errors = (answer or {}).get("errors") if isinstance(answer, dict) else None
        errors = errors or ((payload or {}).get("updateOrderFulfillment") or {}).get("errors")
        if errors:
            said = "; ".join(str(e.get("message", e)) for e in errors[:3] if isinstance(e, dict))
            raise RequestRejected(f"Letzshop refused the shipment of {channel_order_id}: {said}")
        return answer

    def probe_connection(self) -> tuple[str, Mapping[str, Any]]:
        """The orders query, one order long (GraphQL errors come back as RequestRejected)."""
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        pages = iter(self._orders({"first": 1, "since": since}))
        next(pages, None)
        pages.close()
        return "Letzshop answered the orders query with this API token.", {}

"""The GraphQL documents Mercato sends to Letzshop, and the variables of its order actions.

Everything here is unverified ([U] in CONNECTORS.md section 2: no public schema, client or
recorded response). The orders query and the fulfilment mutation follow seed 001 (no evidence);
the confirm mutation takes the one name Orion's notes record (``confirmInventoryUnits``, units
confirmed with ``isAvailable`` true, declined with false) and the shape CONNECTORS.md's
simulator guidance gives (``[{inventoryUnitId, isAvailable}]``); its other arguments are
guessed. Each order item carries its inventory units (``inventoryUnits {id state}``: one unit
per piece, ``unconfirmed`` until the seller confirms or declines it): a line of quantity N is N
units, and accepting, refusing or shipping part of a line names those units. An order with no
unit given is confirmed, declined or shipped as a whole by its number. They live here, in one
place, so that correcting them after an introspection of the real endpoint is one edit: the
documents, the variables built by :func:`confirm_variables` / :func:`fulfilment_variables`,
the unit reading (:func:`item_units`, :data:`UNCONFIRMED`...) and the field
:data:`RESULT_FIELDS` reads each answer from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "CONFIRMED_AVAILABLE",
    "CONFIRMED_UNAVAILABLE",
    "CONFIRM_UNITS_MUTATION",
    "FULFILMENT_MUTATION",
    "ORDERS_QUERY",
    "RESULT_FIELDS",
    "confirm_variables",
    "fulfilment_variables",
    "item_line_id",
    "item_units",
    "UNCONFIRMED",
]

# Inventory unit states (Orion's notes, [C]): unconfirmed -> confirmed_available |
# confirmed_unavailable (declined) | returned.
UNCONFIRMED = "unconfirmed"
CONFIRMED_AVAILABLE = "confirmed_available"
CONFIRMED_UNAVAILABLE = "confirmed_unavailable"

ORDERS_QUERY = """
query GetOrders($since: DateTime, $status: [OrderStatus!], $first: Int, $after: String) {
  orders(filter: {updatedAt: {gte: $since}, status: {in: $status}}, first: $first,
         after: $after) {
    edges { node {
      id orderNumber status createdAt updatedAt
      customer { email firstName lastName phone }
      shippingAddress { street city postalCode country }
      items { id product { id sku name } quantity unitPrice totalPrice
              inventoryUnits { id state } }
      totals { subtotal shipping tax total currency }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

# Seed 001's updateOrderFulfillment(orderId, input) [U]: the tracking of a shipped order.
FULFILMENT_MUTATION = """
mutation UpdateOrderFulfillment($orderId: ID!, $input: OrderFulfillmentInput!) {
  updateOrderFulfillment(orderId: $orderId, input: $input) {
    order { id orderNumber status }
    errors { message }
  }
}
"""

# Orion's confirmInventoryUnits [C name], with guessed arguments [U]: accept (isAvailable true)
# or refuse (false, Letzshop says "declined") the order's units, or the listed ones.
CONFIRM_UNITS_MUTATION = """
mutation ConfirmInventoryUnits($input: ConfirmInventoryUnitsInput!) {
  confirmInventoryUnits(input: $input) {
    shipment { id state inventoryUnits { id state } }
    errors { message }
  }
}
"""

# The answer's field per document, where a refusal's ``errors`` list sits besides the data.
RESULT_FIELDS = {
    FULFILMENT_MUTATION: "updateOrderFulfillment",
    CONFIRM_UNITS_MUTATION: "confirmInventoryUnits",
}


def item_units(item: Mapping[str, Any]) -> list[dict] | None:
    """An order item's inventory units as ``[{"id", "state"}]``; None when the answer gives
    none (then the order can only be answered as a whole)."""
    units = item.get("inventoryUnits")
    if not isinstance(units, list):
        return None
    return [
        {"id": str(u["id"]), "state": str(u.get("state") or UNCONFIRMED)}
        for u in units
        if isinstance(u, Mapping) and u.get("id") not in (None, "")
    ]


def item_line_id(item: Mapping[str, Any]) -> str | None:
    """The id Mercato names an order item by: the item's own, else its first unit's."""
    if item.get("id") not in (None, ""):
        return str(item["id"])
    units = item_units(item) or []
    return units[0]["id"] if units else None


def confirm_variables(order_number: str, available: bool, units: list[str] | None = None) -> dict:
    """Accept (``available``) or refuse (decline) the order's units: the listed ones, else
    all of them (by the order's number)."""
    if units:
        return {
            "input": {
                "orderNumber": order_number,
                "inventoryUnits": [
                    {"inventoryUnitId": unit, "isAvailable": available} for unit in units
                ],
            }
        }
    return {"input": {"orderNumber": order_number, "isAvailable": available}}


def fulfilment_variables(order_number: str, tracking: Mapping[str, Any]) -> dict:
    """The order (or its listed ``units``) shipped, with what is known of its tracking (empty
    values left out)."""
    known = {
        "trackingNumber": tracking.get("tracking_number"),
        "carrier": tracking.get("carrier"),
        "trackingUrl": tracking.get("tracking_url"),
    }
    given: dict[str, Any] = {
        "status": "SHIPPED",
        "tracking": {k: v for k, v in known.items() if v},
    }
    if tracking.get("units"):
        given["inventoryUnitIds"] = list(tracking["units"])
    return {"orderId": order_number, "input": given}

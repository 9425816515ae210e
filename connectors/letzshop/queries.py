"""The GraphQL documents Mercato sends to Letzshop, and the variables of its order actions.

Everything here is unverified ([U] in CONNECTORS.md section 2: no public schema, client or
recorded response). The orders query and the fulfilment mutation follow seed 001 (no evidence);
the confirm mutation takes the one name Orion's notes record (``confirmInventoryUnits``, units
confirmed with ``isAvailable`` true, declined with false) but its arguments are guessed: Mercato
does not read inventory unit ids yet, so it names the order and lets Letzshop confirm or decline
all of its units (or the one unit a line names). They live here, in one place, so that
correcting them after an introspection of the real endpoint is one edit: the documents, the
variables built by :func:`confirm_variables` / :func:`fulfilment_variables`, and the field
:data:`RESULT_FIELDS` reads each answer from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "CONFIRM_UNITS_MUTATION",
    "FULFILMENT_MUTATION",
    "ORDERS_QUERY",
    "RESULT_FIELDS",
    "confirm_variables",
    "fulfilment_variables",
]

ORDERS_QUERY = """
query GetOrders($since: DateTime, $status: [OrderStatus!], $first: Int, $after: String) {
  orders(filter: {updatedAt: {gte: $since}, status: {in: $status}}, first: $first,
         after: $after) {
    edges { node {
      id orderNumber status createdAt updatedAt
      customer { email firstName lastName phone }
      shippingAddress { street city postalCode country }
      items { product { id sku name } quantity unitPrice totalPrice }
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


def confirm_variables(order_number: str, available: bool, line: str | None = None) -> dict:
    """Accept (``available``) or refuse the order's units; ``line``: one unit only."""
    unit: dict[str, Any] = {"orderNumber": order_number, "isAvailable": available}
    if line:
        unit["inventoryUnitIds"] = [line]
    return {"input": unit}


def fulfilment_variables(order_number: str, tracking: Mapping[str, Any]) -> dict:
    """The order shipped, with what is known of its tracking (empty values left out)."""
    known = {
        "trackingNumber": tracking.get("tracking_number"),
        "carrier": tracking.get("carrier"),
        "trackingUrl": tracking.get("tracking_url"),
    }
    return {
        "orderId": order_number,
        "input": {"status": "SHIPPED", "tracking": {k: v for k, v in known.items() if v}},
    }

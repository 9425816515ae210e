"""The GraphQL documents Mercato sends to Letzshop.

They follow seed 001's schema, which CONNECTORS.md marks unverified ([U]: no public evidence;
the real model is shipments and inventory units): they live here, in one place, so that
correcting them after an introspection of the real endpoint is one edit.
"""

from __future__ import annotations

__all__ = ["FULFILMENT_MUTATION", "ORDERS_QUERY"]

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

"""The ShoppingFeed connector (API v1, HAL): stock and prices out, the inventory read back,
behind a long-lived API token. Importing the package registers it."""

from connectors.shoppingfeed.connector import (
    BATCH_SIZE,
    INVENTORY_UPDATE,
    PRICING_UPDATE,
    ShoppingFeedConnector,
)

__all__ = ["BATCH_SIZE", "INVENTORY_UPDATE", "PRICING_UPDATE", "ShoppingFeedConnector"]

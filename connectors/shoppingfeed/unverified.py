"""What Mercato assumes about ShoppingFeed without a primary source, in one place.

Each constant below is a point ../shared/CONNECTORS.md section 7 tags [U] (unverified) or [C]
(seen in client code, not a contract), or does not cover at all. They are gathered here so
that each can be corrected against the real API in one edit; :mod:`.connector` imports them
from here and hard-codes no other guess.
"""

from __future__ import annotations

__all__ = [
    "BEARER_PREFIX",
    "INVENTORY_LIST_LIMIT",
    "INVENTORY_LIST_PATH",
    "PRICE_SENT",
    "PRICING_LIST_LIMIT",
    "PRICING_LIST_PATH",
    "PRICING_PATH",
]

# The token is sent as ``Authorization: Bearer <token>`` (the SDK's withToken, [V]); some
# clients send it bare ([C]). Mercato sends the SDK's form.
BEARER_PREFIX = "Bearer"

# The pricing endpoint's path: the SDK follows the store's HAL ``pricing`` link; the path is
# taken to sit beside ``inventory`` ([U] "Exact pricing path").
PRICING_PATH = "/v1/store/{store_id}/pricing"

# Reading the whole inventory back (the nightly stock check): the documented read is one item
# by ``?reference=SKU``; a listing of the store's inventory paginated as every HAL collection
# (``page``, ``limit``; ``pages``, ``_embedded.inventory``) is assumed. [U]
INVENTORY_LIST_PATH = "/v1/store/{store_id}/inventory"
INVENTORY_LIST_LIMIT = 200

# ShoppingFeed's pricing update carries one ``price`` per reference ([V]); a sale price field
# and a currency are not documented. Mercato sends the price a customer pays: the sale price
# when one is set, else the price; the currency is the ShoppingFeed store's own. [U]
PRICE_SENT = "sale_price_else_price"

# Reading prices back (the price side of the nightly check): CONNECTORS.md section 7 records
# no pricing read. The official SDK documents one (shoppingflux/php-sdk
# docs/manual/resources/pricing.md, src/Api/Catalog/PricingDomain.php): on the store's
# ``pricing`` link, ``getByReference`` (``?reference=SKU``), ``getPage(page, limit)`` and
# ``getAll``, each item ``{id, reference, price, updatedAt}`` under ``_embedded.pricing``.
# The path is the pricing link's guess above, and the listing's paging (``page``, ``limit``;
# ``pages``) is assumed to be the inventory's. Not checked against the real API. [U]
PRICING_LIST_PATH = PRICING_PATH
PRICING_LIST_LIMIT = 200

"""The CodesWholesale connector (digital keys): client (:mod:`.connector`), token provider
(:mod:`.auth`), payload parsing (:mod:`.payloads`), graded error codes (:mod:`.errors`) and
what is assumed without a primary source (:mod:`.unverified`).  Importing it registers it."""

from connectors.codeswholesale.auth import CodesWholesaleTokenProvider
from connectors.codeswholesale.connector import (
    BUY_KEYS,
    LIVE_BASE_URL,
    SANDBOX_BASE_URL,
    CodesWholesaleConnector,
)
from connectors.codeswholesale.errors import (
    BalanceTooLow,
    GoneFromPriceList,
    OutOfStock,
    SupplierRefusal,
)
from connectors.codeswholesale.payloads import UnreadableProduct, parse_order, parse_product

__all__ = [
    "BUY_KEYS",
    "LIVE_BASE_URL",
    "SANDBOX_BASE_URL",
    "BalanceTooLow",
    "CodesWholesaleConnector",
    "CodesWholesaleTokenProvider",
    "GoneFromPriceList",
    "OutOfStock",
    "SupplierRefusal",
    "UnreadableProduct",
    "parse_order",
    "parse_product",
]

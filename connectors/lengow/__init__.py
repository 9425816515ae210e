"""The Lengow connector: client (:mod:`.connector`), token provider (:mod:`.auth`), status map
and payload mapping (:mod:`.orders`). Importing the package registers it."""

from connectors.lengow.auth import LengowTokenProvider
from connectors.lengow.connector import LengowConnector
from connectors.lengow.orders import STATUS_MAP, map_status, normalize_order, peek_order

__all__ = [
    "STATUS_MAP",
    "LengowConnector",
    "LengowTokenProvider",
    "map_status",
    "normalize_order",
    "peek_order",
]

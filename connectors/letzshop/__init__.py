"""The Letzshop connector: client (:mod:`.connector`), GraphQL documents (:mod:`.queries`),
status map and payload mapping (:mod:`.orders`). Importing the package registers it."""

from connectors.letzshop.connector import LetzshopConnector
from connectors.letzshop.orders import CHANNEL, STATUS_MAP, normalize_order
from connectors.letzshop.queries import ORDERS_QUERY

__all__ = ["CHANNEL", "ORDERS_QUERY", "STATUS_MAP", "LetzshopConnector", "normalize_order"]

"""What a connector can do, as small interfaces: a connector *is* what it implements.

A capability used to be a declaration (a ``capabilities`` set) checked elsewhere with
``hasattr``; the two could disagree. Now each capability is an abstract class whose methods are
what the capability needs, and a connector's :class:`Capability` set is derived from the
interfaces it subclasses (:meth:`connectors.base.Connector.supports`): one source of truth. An
interface a connector lists but does not fully implement stays abstract, and the registry
refuses it.

Order actions are one interface each (acknowledge, accept/refuse, ship, cancel, refund): a
marketplace that cannot refund simply does not list :class:`RefundsOrders`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from connectors.orders import UnifiedOrder
from connectors.suppliers import AccountBalance, SupplierCode, SupplierOrder, SupplierProduct

__all__ = [
    "ACK_ORDER",
    "AcceptsOrders",
    "AcknowledgesOrders",
    "CancelsOrders",
    "ACTION_STATES",
    "Capability",
    "CapabilityInterface",
    "CatalogOut",
    "DigitalKeys",
    "OrderActionStatus",
    "OrderLookup",
    "OrdersIn",
    "PricesOut",
    "ProductsIn",
    "RefundsOrders",
    "Shipment",
    "ShipsOrders",
    "StockOut",
    "SupplierCatalog",
    "TracksOrderActions",
]

# The outbound action that tells a marketplace our id for its order (recorded in
# webapp.models.outbound, built by the connector's outbound_request).
ACK_ORDER = "order.merchant_order_id"


class Capability(StrEnum):
    """What a connector can do for an account (DOMAIN.md: "it declares what it can do")."""

    PRODUCTS_IN = "products_in"
    ORDERS_IN = "orders_in"
    ORDER_LOOKUP = "order_lookup"
    ORDER_ACK = "order_ack"
    ORDER_ACCEPTANCE = "order_acceptance"
    FULFILMENT_OUT = "fulfilment_out"
    ORDER_CANCEL = "order_cancel"
    ORDER_REFUND = "order_refund"
    STOCK_OUT = "stock_out"
    PRICES_OUT = "prices_out"
    CATALOG_OUT = "catalog_out"
    DIGITAL_KEYS = "digital_keys"
    SUPPLIER_CATALOG = "supplier_catalog"
    ORDER_ACTION_TRACKING = "order_action_tracking"


class CapabilityInterface(ABC):  # noqa: B024 - a marker: the subclasses hold the methods
    """Base of every capability interface; ``capability`` is what implementing it gives."""

    capability: ClassVar[Capability]


@dataclass(frozen=True)
class Shipment:
    """What a merchant tells a marketplace when an order (or one line of it) leaves."""

    tracking_number: str
    carrier: str | None = None
    tracking_url: str | None = None
    line: str | None = None  # the marketplace's line id, for a partial shipment


# Where a marketplace has an order action (Mercato's words): handed over and not yet taken up
# ("sent"), waiting in the marketplace's queue ("queued"), done ("processed"), or refused with
# the marketplace's own text ("failed").
ACTION_STATES = ("sent", "queued", "processed", "failed")


@dataclass(frozen=True)
class OrderActionStatus:
    """One order action as the marketplace knows it, in Mercato's states."""

    id: str
    channel: str
    channel_order_id: str
    action_type: str
    state: str  # one of ACTION_STATES
    error: str | None = None  # the marketplace's text when failed
    line: str | None = None
    tracking_number: str | None = None
    carrier: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    raw: Mapping[str, Any] | None = None

    @property
    def final(self) -> bool:
        return self.state in ("processed", "failed")


class ProductsIn(CapabilityInterface):
    capability = Capability.PRODUCTS_IN

    @abstractmethod
    def fetch_products(self, updated_from: str | None) -> Iterator[list[dict[str, Any]]]:
        """The marketplace's products (changed since ``updated_from``), a page at a time."""


class OrdersIn(CapabilityInterface):
    capability = Capability.ORDERS_IN

    @abstractmethod
    def fetch_orders(self, updated_from: str) -> Iterator[list[UnifiedOrder]]:
        """Orders updated since ``updated_from`` (ISO 8601), a page at a time, every page."""


class OrderLookup(CapabilityInterface):
    capability = Capability.ORDER_LOOKUP

    @abstractmethod
    def fetch_order(self, channel: str, channel_order_id: str) -> UnifiedOrder | None:
        """One order by its marketplace id (to recheck a parked order); None when gone."""


class AcknowledgesOrders(CapabilityInterface):
    capability = Capability.ORDER_ACK

    @abstractmethod
    def acknowledge_order(
        self, channel: str, channel_order_id: str, merchant_order_id: str
    ) -> None:
        """Tell the marketplace our id for its order."""


class AcceptsOrders(CapabilityInterface):
    capability = Capability.ORDER_ACCEPTANCE

    @abstractmethod
    def accept_order(self, channel: str, channel_order_id: str) -> Any:
        """Take an order the marketplace waits for the merchant to accept."""

    @abstractmethod
    def refuse_order(self, channel: str, channel_order_id: str) -> Any:
        """Turn such an order down."""


class ShipsOrders(CapabilityInterface):
    capability = Capability.FULFILMENT_OUT

    @abstractmethod
    def ship_order(self, channel: str, channel_order_id: str, shipment: Shipment) -> Any:
        """Say the order (or ``shipment.line``) left, with its tracking."""


class CancelsOrders(CapabilityInterface):
    capability = Capability.ORDER_CANCEL

    @abstractmethod
    def cancel_order(self, channel: str, channel_order_id: str) -> Any:
        """Cancel an order the merchant cannot fulfil."""


class RefundsOrders(CapabilityInterface):
    capability = Capability.ORDER_REFUND

    @abstractmethod
    def refund_order(self, channel: str, channel_order_id: str) -> Any:
        """Refund an order (the marketplace pays the customer back)."""


class TracksOrderActions(CapabilityInterface):
    """The order actions sent are processed later: their states can be read back, many at a
    time, and an action whose sending ended in doubt can be looked up before sending again."""

    capability = Capability.ORDER_ACTION_TRACKING

    @abstractmethod
    def list_actions(
        self,
        updated_from: str | None = None,
        channel_order_id: str | None = None,
        **filters: Any,
    ) -> Iterator[list[OrderActionStatus]]:
        """The account's actions (changed since ``updated_from``), a page at a time."""

    @abstractmethod
    def find_action(
        self,
        channel: str,
        channel_order_id: str,
        action_type: str,
        line: str | None = None,
        tracking_number: str | None = None,
    ) -> OrderActionStatus | None:
        """The latest action matching these, or None when the marketplace has none."""

    @abstractmethod
    def find_sent(self, action: str, params: Mapping[str, Any]) -> OrderActionStatus | None:
        """The action the outbound call ``action`` with ``params`` creates, if the marketplace
        already has it: asked before an action whose earlier sending ended in doubt (a
        timeout, a reset, a 5xx) is sent again."""


class StockOut(CapabilityInterface):
    capability = Capability.STOCK_OUT

    @abstractmethod
    def push_stock(self, levels: Mapping[str, int]) -> Any:
        """Send stock levels by SKU."""


class PricesOut(CapabilityInterface):
    capability = Capability.PRICES_OUT

    @abstractmethod
    def push_prices(self, prices: Mapping[str, Decimal]) -> Any:
        """Send prices by SKU."""


class CatalogOut(CapabilityInterface):
    """A hub that takes the merchant's catalog by fetching a feed (pull): Mercato serves the
    account's catalog feed at a secret URL (:mod:`webapp.catalogfeed`) and checks, daily,
    what the hub would get and when it last fetched it. Nothing is sent: there is no method.

    ``catalog_required``: the feed columns without which the hub rejects a product (an id
    and a title and price are always required; link and image where the hub asks for them)."""

    capability = Capability.CATALOG_OUT
    catalog_required: ClassVar[tuple[str, ...]] = ("title", "price", "link", "image_link")


class SupplierCatalog(CapabilityInterface):
    """A supplier whose catalogue Mercato reads (digital goods: platform, regions, languages,
    quantity-tier prices as the supplier's cost, stock)."""

    capability = Capability.SUPPLIER_CATALOG

    @abstractmethod
    def fetch_catalog(self, updated_since: str | None = None) -> Iterator[list[SupplierProduct]]:
        """The supplier's products (changed since ``updated_since`` where the API can say),
        a page at a time, every page."""


class DigitalKeys(CapabilityInterface):
    """Keys bought from a supplier.  A purchase names Mercato's own reference; when its answer
    was lost (``RetryableError.outcome_unknown``) the reference is looked up in the supplier's
    order history before anything is bought again: no supplier here rejects a repeat."""

    capability = Capability.DIGITAL_KEYS

    @abstractmethod
    def buy_keys(
        self,
        reference: str,
        product_id: str,
        quantity: int,
        *,
        unit_price: Decimal | None = None,
        allow_pre_order: bool = True,
    ) -> SupplierOrder:
        """Buy ``quantity`` keys of ``product_id`` under Mercato's ``reference``."""

    @abstractmethod
    def find_purchase(self, reference: str, placed_on: date | None = None) -> SupplierOrder | None:
        """The supplier's order made under ``reference`` (around ``placed_on``), or None."""

    @abstractmethod
    def fetch_code(self, code_id: str) -> SupplierCode:
        """One key again (a pre-order's, once assigned)."""

    @abstractmethod
    def account_balance(self) -> AccountBalance:
        """What the supplier account may still spend."""

"""Lengow, the connector hub (API v3): orders from Amazon, Cdiscount, ManoMano and others.

The client: what Lengow can do for an account, as the capability interfaces it implements
(orders in, one order by id, the merchant order id, and the order actions of
``POST /v3.0/orders/actions/``: accept, refuse, ship, cancel, refund), plus its connection test.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from connectors.base import (
    ACK_ORDER,
    AcceptsOrders,
    AcknowledgesOrders,
    CancelsOrders,
    CatalogOut,
    Connector,
    OrderLookup,
    OrdersIn,
    OutboundRequest,
    RefundsOrders,
    Setting,
    Shipment,
    ShipsOrders,
)
from connectors.capabilities import OrderActionStatus, TracksOrderActions
from connectors.errors import ConnectorError
from connectors.lengow.actions import action_status, matches
from connectors.lengow.auth import LengowTokenProvider
from connectors.lengow.orders import STATUS_MAP, normalize_order, peek_order
from connectors.lengow.rules import MarketplaceRules, parse_marketplaces, resolve
from connectors.orders import LazyOrder, UnifiedOrder
from connectors.pagination import NextLinkPaginator
from connectors.registry import register

__all__ = ["ACTION_TYPES", "LengowConnector"]

DEFAULT_BASE_URL = "https://api.lengow.io"
ORDERS_PATH = "/v3.0/orders/"
MERCHANT_ORDER_ID_PATH = "/v3.0/orders/moi/"
ACTIONS_PATH = "/v3.0/orders/actions/"
MARKETPLACES_PATH = "/v3.0/marketplaces"
# What Mercato knows of a shipment and sends where the marketplace's action takes it (left out,
# not refused, where it does not: Amazon's ship takes no tracking_url).
SHIPMENT_ARGS = frozenset({"carrier", "carrier_name", "tracking_number", "tracking_url"})
# 530 "Logical Error": bad input (an unknown catalog, invalid rules); retrying won't help.
REJECT_STATUSES = frozenset({530})
# Outbound action name -> Lengow action_type (CONNECTORS.md section 1, verified).
ACTION_TYPES = MappingProxyType(
    {
        "order.accept": "accept",
        "order.refuse": "refuse",
        "order.ship": "ship",
        "order.cancel": "cancel",
        "order.refund": "refund",
    }
)


# A unified status as the Lengow status the marketplace rules judge it by (the order moved on by
# an action recorded here and not yet reported back by Lengow).
LENGOW_STATUS_OF = MappingProxyType(
    {
        "pending": "new",
        "awaiting_acceptance": "waiting_acceptance",
        "confirmed": "waiting_shipment",
        "ready_for_shipment": "to_pickup",
        "shipped": "shipped",
        "delivered": "closed",
        "cancelled": "canceled",
        "refunded": "refunded",
    }
)


def lengow_status(unified: str | None) -> str | None:
    """The Lengow status a unified one stands for; None when none does."""
    return LENGOW_STATUS_OF.get(unified or "")


def _status(rules: Mapping[str, MarketplaceRules], marketplace: str, view: Mapping) -> str:
    """The order's status for the rules: what Lengow last said, unless an action recorded
    since moved the order on (a cancel recorded, not yet sent: a refund is judged against
    ``canceled``); then the Lengow status of the unified one."""
    said, unified = view.get("marketplace_status"), view.get("status")
    market = rules.get(marketplace)
    if said and market is not None:
        mapped = STATUS_MAP.get(market.lengow_status(said))
        if mapped is None or mapped[0] == unified:
            return said
    return lengow_status(unified) or said or ""


def _action_key(status: OrderActionStatus) -> tuple:
    """Latest first: by creation time, then by id."""
    ident = status.id
    return (status.created_at or "", int(ident) if ident.isdigit() else 0, ident)


@register
class LengowConnector(
    Connector,
    OrdersIn,
    OrderLookup,
    AcknowledgesOrders,
    AcceptsOrders,
    ShipsOrders,
    CancelsOrders,
    RefundsOrders,
    TracksOrderActions,
    CatalogOut,
):
    code = "lengow"
    name = "Lengow"
    default_base_url = DEFAULT_BASE_URL
    settings = (
        Setting("account_id", "Lengow account id", required=True, help="e.g. 5622"),
        Setting("access_token", "Access token", secret=True, required=True),
        Setting("secret", "Secret", secret=True, required=True),
    )
    http_options = MappingProxyType({"reject_statuses": REJECT_STATUSES})

    @classmethod
    def token_provider(cls, secrets):
        return LengowTokenProvider(secrets["access_token"], secrets["secret"])

    # -- orders in -----------------------------------------------------------------------------

    def fetch_orders(self, updated_from: str) -> Iterator[list[UnifiedOrder]]:
        """Orders updated since ``updated_from`` (ISO), one page at a time, every page.

        Pages are offsets, so the order must rest on something that never changes: sorted by
        ``updated_at``, an order that changes while pages are read leaves its page and the next
        one slides onto a page already read - and, being old, is never asked for again. Sorted
        by order date, a change moves nothing; a late arrival only shifts orders forward (read
        twice, harmless) and, updated now, is caught by the next poll's overlap.
        """
        params = {
            "account_id": self.config["account_id"],
            "updated_from": updated_from,
            "ordering": "marketplace_order_date",
            "page_size": 100,
        }
        for page in NextLinkPaginator(self.http, ORDERS_PATH, params):
            yield [LazyOrder(raw, peek_order, normalize_order) for raw in page]

    def fetch_order(self, channel: str, channel_order_id: str) -> UnifiedOrder | None:
        """One order by its marketplace id (for rechecking a parked order); None if gone."""
        page = self.http.request(
            "GET",
            ORDERS_PATH,
            params={
                "account_id": self.config["account_id"],
                "marketplace": channel,
                "marketplace_order_id": channel_order_id,
            },
        )
        for raw in (page or {}).get("results") or []:
            if str(raw.get("marketplace_order_id")) == channel_order_id:
                return normalize_order(raw)
        return None

    # -- outbound --------------------------------------------------------------------------------

    outbound_actions = frozenset({ACK_ORDER, *ACTION_TYPES})

    def outbound_request(self, action: str, params: Mapping[str, Any]) -> OutboundRequest:
        if action == ACK_ORDER:
            # Tell Lengow our order id for its order (PATCH /v3.0/orders/moi/).
            return OutboundRequest(
                "PATCH",
                MERCHANT_ORDER_ID_PATH,
                {
                    "account_id": int(self.config["account_id"]),
                    "marketplace": params["channel"],
                    "marketplace_order_id": params["channel_order_id"],
                    "merchant_order_id": [params["merchant_order_id"]],
                },
                idempotent=True,  # the same id sent twice is the same state
            )
        if action in ACTION_TYPES:
            # One action; Lengow queues it and passes it on to the marketplace. Not idempotent:
            # a second POST creates a second action.
            body = {
                "account_id": int(self.config["account_id"]),
                "marketplace": params["channel"],
                "marketplace_order_id": params["channel_order_id"],
                "action_type": ACTION_TYPES[action],
                **{k: v for k, v in params.items() if k not in ("channel", "channel_order_id")},
            }
            return OutboundRequest("POST", ACTIONS_PATH, body)
        return super().outbound_request(action, params)

    def _act(self, action: str, channel: str, channel_order_id: str, **extra: Any) -> Any:
        params = {"channel": channel, "channel_order_id": channel_order_id, **extra}
        return self.send(self.outbound_request(action, params))

    def acknowledge_order(
        self, channel: str, channel_order_id: str, merchant_order_id: str
    ) -> None:
        """Send the merchant order id now (the order book sends through webapp.outbound)."""
        self._act(ACK_ORDER, channel, channel_order_id, merchant_order_id=merchant_order_id)

    def accept_order(self, channel: str, channel_order_id: str) -> Any:
        return self._act("order.accept", channel, channel_order_id)

    def refuse_order(self, channel: str, channel_order_id: str) -> Any:
        return self._act("order.refuse", channel, channel_order_id)

    def ship_order(self, channel: str, channel_order_id: str, shipment: Shipment) -> Any:
        extra = {"tracking_number": shipment.tracking_number}
        for key in ("carrier", "tracking_url", "line"):
            if getattr(shipment, key):
                extra[key] = getattr(shipment, key)
        return self._act("order.ship", channel, channel_order_id, **extra)

    def cancel_order(self, channel: str, channel_order_id: str) -> Any:
        return self._act("order.cancel", channel, channel_order_id)

    def refund_order(self, channel: str, channel_order_id: str) -> Any:
        return self._act("order.refund", channel, channel_order_id)

    # -- what each marketplace allows, and the actions' states ---------------------------------

    def fetch_marketplace_rules(
        self, marketplace: str | None = None
    ) -> dict[str, MarketplaceRules]:
        """The account's marketplaces (or one) and the actions each takes, with their
        arguments (:mod:`connectors.lengow.rules`)."""
        return parse_marketplaces(self.fetch_marketplaces_payload(marketplace))

    def fetch_marketplaces_payload(self, marketplace: str | None = None) -> dict[str, Any]:
        """``GET /v3.0/marketplaces`` as Lengow answers it (plain JSON, for a cache to keep;
        :meth:`parse_marketplace_rules` reads it)."""
        params = {"account_id": self.config["account_id"]}
        if marketplace:
            params["marketplace"] = marketplace
        payload = self.http.request("GET", MARKETPLACES_PATH, params=params)
        if not isinstance(payload, dict):
            raise ConnectorError("Lengow's marketplaces answer is not an object")
        return payload

    @staticmethod
    def parse_marketplace_rules(payload: Mapping[str, Any]) -> dict[str, MarketplaceRules]:
        return parse_marketplaces(payload)

    @staticmethod
    def rules_status(rules: Mapping[str, MarketplaceRules], order_view: Mapping[str, Any]) -> str:
        """The status the marketplace rules judge the order by (``order_view`` as for
        :meth:`validate_action`): what a form offering the actions needs to know."""
        return _status(rules, str(order_view["channel"]), order_view)

    def validate_action(
        self,
        order_view: Mapping[str, Any],
        action_type: str,
        args: Mapping[str, Any],
        lines: list[Mapping[str, Any]],
        rules: Mapping[str, MarketplaceRules] | None = None,
    ) -> list[str]:
        """What the order's marketplace refuses in this action (one sentence each; none: it
        may be recorded), by its rules (:func:`connectors.lengow.rules.validate`; fetched for
        the order's marketplace when not given). ``order_view``: ``channel`` (the marketplace
        code), ``status`` (unified), ``marketplace_status`` (what Lengow last said) and
        ``raw`` (the order as Lengow sent it, for conditions on the order); ``lines``: the
        lines a per-line action names (``line_id``, ``quantity``), none for the whole order;
        ``args``: every argument the request will carry."""
        problems, _ = self.resolve_action(order_view, action_type, args, lines, rules)
        return problems

    def resolve_action(
        self,
        order_view: Mapping[str, Any],
        action_type: str,
        args: Mapping[str, Any],
        lines: list[Mapping[str, Any]],
        rules: Mapping[str, MarketplaceRules] | None = None,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """The problems (as :meth:`validate_action`) and, when there are none, the arguments
        of each request to send, one per line of ``lines`` in their order (one for the whole
        order without lines), as the marketplace's rules resolve them
        (:func:`connectors.lengow.rules.resolve`): its defaults, only what it knows for the
        action, ``depends_on`` applied, typed values formatted. What Mercato knows of a
        shipment (``SHIPMENT_ARGS``) is sent only where the action takes it."""
        marketplace = str(order_view["channel"])
        if rules is None:
            rules = self.fetch_marketplace_rules(marketplace)
        status = _status(rules, marketplace, order_view)
        wanted = [(str(line["line_id"]), line.get("quantity")) for line in lines or []]
        raw = order_view.get("raw")
        checked = resolve(
            rules,
            marketplace,
            action_type,
            status,
            args,
            wanted or None,
            order=raw if isinstance(raw, Mapping) else None,
            soft=SHIPMENT_ARGS,
        )
        return [str(p) for p in checked.problems], checked.requests

    def list_actions(
        self,
        updated_from: str | None = None,
        channel_order_id: str | None = None,
        *,
        marketplace: str | None = None,
        action_type: str | None = None,
        queued: bool | None = None,
        line: str | None = None,
        tracking_number: str | None = None,
        page_size: int = 100,
    ) -> Iterator[list[OrderActionStatus]]:
        """The account's actions, a page at a time (``next`` followed; never one request per
        action), filtered on Lengow's side (CONNECTORS.md: the documented filters)."""
        params: dict[str, Any] = {"account_id": self.config["account_id"], "page_size": page_size}
        for key, value in (
            ("updated_from", updated_from),
            ("marketplace_order_id", channel_order_id),
            ("marketplace", marketplace),
            ("action_type", action_type),
            ("line", line),
            ("tracking_number", tracking_number),
        ):
            if value is not None:
                params[key] = value
        if queued is not None:
            params["queued"] = "true" if queued else "false"
        for page in NextLinkPaginator(self.http, ACTIONS_PATH, params):
            yield [action_status(raw) for raw in page if isinstance(raw, dict)]

    def find_action(
        self,
        channel: str,
        channel_order_id: str,
        action_type: str,
        line: str | None = None,
        tracking_number: str | None = None,
    ) -> OrderActionStatus | None:
        """The latest action Lengow has for this order, type, line and tracking number (the
        lookup before posting again an action whose POST ended in doubt: Lengow takes no
        idempotency key). Filtered on Lengow's side, checked again here: a filter the API
        ignored must not adopt another line's action."""
        found: OrderActionStatus | None = None
        for page in self.list_actions(
            channel_order_id=channel_order_id,
            marketplace=channel,
            action_type=action_type,
            line=line,
            tracking_number=tracking_number,
        ):
            for status in page:
                raw = status.raw or {}
                if not matches(raw, channel, channel_order_id, action_type, line, tracking_number):
                    continue
                if found is None or _action_key(status) > _action_key(found):
                    found = status
        return found

    def find_sent(self, action: str, params: Mapping[str, Any]) -> OrderActionStatus | None:
        """The Lengow action the outbound call ``action`` (an ``order.*`` name) with ``params``
        creates, if Lengow already has it (see :meth:`find_action`)."""
        if action not in ACTION_TYPES:
            return None
        return self.find_action(
            params["channel"],
            params["channel_order_id"],
            ACTION_TYPES[action],
            line=params.get("line"),
            tracking_number=params.get("tracking_number"),
        )

    # -- connection test -------------------------------------------------------------------------

    def probe_connection(self) -> tuple[str, Mapping[str, Any]]:
        """A token from the access token and secret, then one order of the account."""
        account = self.config["account_id"]
        page = self.http.request("GET", ORDERS_PATH, params={"account_id": account, "page_size": 1})
        count = page.get("count") if isinstance(page, dict) else None
        found = f" ({count} orders visible)" if isinstance(count, int) else ""
        details = {"orders": count} if isinstance(count, int) else {}
        return f"Lengow accepted the credentials for account {account}{found}.", details

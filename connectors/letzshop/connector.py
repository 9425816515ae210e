"""Letzshop (GraphQL): orders in; accept, refuse and ship out; product feeds come in as CSV
imports.

The API token is static (``Authorization: Bearer``); every call is a POST of a GraphQL
document (:mod:`.queries`, where every unverified part of the schema lives) to the account's
base URL, and a GraphQL ``errors`` list (top level or in the mutation's answer) is a refusal
even under HTTP 200.

Order actions are outbound calls (``order.accept``, ``order.refuse``, ``order.ship``): built
as data by :meth:`LetzshopConnector.outbound_request`, recorded, and sent once by
:meth:`LetzshopConnector.send`. Accept and refuse confirm or decline the order's inventory
units (Letzshop's own model: a unit is ``confirmed_available`` or ``confirmed_unavailable``).
None of them is idempotent as far as anyone knows (confirming a confirmed unit: unknown).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.base import (
    AcceptsOrders,
    CatalogOut,
    Connector,
    OrdersIn,
    OutboundRequest,
    Setting,
    Shipment,
    ShipsOrders,
)
from connectors.errors import RequestRejected
from connectors.http import BearerTokenProvider
from connectors.letzshop.orders import normalize_order
from connectors.letzshop.queries import (
    CONFIRM_UNITS_MUTATION,
    CONFIRMED_UNAVAILABLE,
    FULFILMENT_MUTATION,
    ORDERS_QUERY,
    RESULT_FIELDS,
    UNCONFIRMED,
    confirm_variables,
    fulfilment_variables,
    item_line_id,
    item_units,
)
from connectors.orders import UnifiedOrder
from connectors.pagination import CursorPaginator
from connectors.registry import register

__all__ = ["LetzshopConnector"]

DEFAULT_BASE_URL = "https://letzshop.lu/graphql"
ACCEPT, REFUSE, SHIP = "order.accept", "order.refuse", "order.ship"


def _refusal(answer: Any, field: str | None) -> str | None:
    """The GraphQL errors of ``answer`` (top level, else in the mutation's own answer)."""
    if not isinstance(answer, dict):
        return None
    errors = answer.get("errors")
    if not errors and field:
        result = (answer.get("data") or {}).get(field) or {}
        errors = result.get("errors") if isinstance(result, dict) else None
    if not errors:
        return None
    if not isinstance(errors, list):
        return str(errors)
    return "; ".join(
        str(e.get("message")) if isinstance(e, dict) and e.get("message") else str(e)
        for e in errors[:3]
    )


@register
class LetzshopConnector(Connector, OrdersIn, AcceptsOrders, ShipsOrders, CatalogOut):
    code = "letzshop"
    name = "Letzshop"
    default_base_url = DEFAULT_BASE_URL
    # Letzshop shows the product on its own page: no link back to the shop is needed.
    catalog_required = ("title", "price", "image_link")
    settings = (Setting("api_token", "API token", secret=True, required=True),)

    @classmethod
    def token_provider(cls, secrets):
        return BearerTokenProvider(secrets["api_token"])

    def _orders(self, variables: Mapping[str, Any]) -> CursorPaginator:
        return CursorPaginator(self.http, self.base_url, ORDERS_QUERY, variables, "orders")

    def fetch_orders(self, updated_from: str) -> Iterator[list[UnifiedOrder]]:
        """Orders updated since ``updated_from``, a GraphQL cursor page at a time.

        If Letzshop's cursors are offsets over an ``updatedAt`` ordering, an order that
        changes while pages are read can push an unchanged one onto a page already read;
        the next poll's overlap does not catch that one, so a periodic full re-read is the
        remedy (with the feeds' schedules).
        """
        for page in self._orders({"since": updated_from, "first": 100}):
            yield [normalize_order(node) for node in page]

    # -- outbound --------------------------------------------------------------------------------

    outbound_actions = frozenset({ACCEPT, REFUSE, SHIP})

    def outbound_request(self, action: str, params: Mapping[str, Any]) -> OutboundRequest:
        """One GraphQL POST to the endpoint itself (path ``""``): ``params`` carry ``channel``,
        ``channel_order_id`` (the order number), an optional ``line`` and, to ship, the
        ``carrier``, ``tracking_number`` and ``tracking_url`` known."""
        number = str(params["channel_order_id"])
        if action in (ACCEPT, REFUSE):
            variables = confirm_variables(number, action == ACCEPT, params.get("units"))
            query = CONFIRM_UNITS_MUTATION
        elif action == SHIP:
            variables, query = fulfilment_variables(number, params), FULFILMENT_MUTATION
        else:
            return super().outbound_request(action, params)
        return OutboundRequest("POST", "", {"query": query, "variables": variables})

    # -- the units an action names --------------------------------------------------------------

    def resolve_action(
        self,
        order_view: Mapping[str, Any],
        action_type: str,
        args: Mapping[str, Any],
        lines: list[Mapping[str, Any]],
        rules: Any = None,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """The problems and, when there are none, the arguments of each request (one per line
        of ``lines``, one for the whole order without lines). A line of quantity N is N
        inventory units: a request for part of a line names ``units``, the line's units this
        action may still take (accept and refuse: unconfirmed ones not named by an earlier
        accept or refuse; ship: ones not declined nor shipped before); a line whose units are
        not known names the line only (the order as a whole). ``order_view["raw"]`` is
        the order as Letzshop sent it; ``order_view["sent_units"]``: ``{action type: [unit
        ids]}`` named by the order's earlier actions (not failed)."""
        args = {k: v for k, v in args.items() if v not in (None, "")}
        raw = order_view.get("raw") or {}
        by_line: dict[str, list[dict]] = {}
        for item in raw.get("items") or [] if isinstance(raw, Mapping) else []:
            line_id = item_line_id(item)
            if line_id is not None:
                by_line[line_id] = item_units(item) or []
        sent = {k: set(v) for k, v in (order_view.get("sent_units") or {}).items()}
        answered = sent.get("accept", set()) | sent.get("refuse", set())
        if not lines:
            if action_type in ("accept", "refuse") and answered:
                # part of the order was answered unit by unit: the rest, by name
                rest = [
                    u["id"]
                    for units in by_line.values()
                    for u in units
                    if u["state"] == UNCONFIRMED and u["id"] not in answered
                ]
                if not rest:
                    return ["Every unit of this order was confirmed or declined already."], []
                return [], [{**args, "units": rest}]
            return [], [dict(args)]
        problems, requests = [], []
        for line in lines:
            line_id = str(line["line_id"])
            units = by_line.get(line_id)
            if not units:
                # No unit known for this line (an order read before units were): the request
                # names the line only, and Letzshop answers the order as a whole, as before.
                requests.append({**args, "line": line_id})
                continue
            if action_type in ("accept", "refuse"):
                free = [u["id"] for u in units if u["state"] == UNCONFIRMED]
                free = [u for u in free if u not in answered]
                verb = "confirm or decline"
            else:
                declined = {u["id"] for u in units if u["state"] == CONFIRMED_UNAVAILABLE}
                gone = declined | sent.get("refuse", set()) | sent.get(action_type, set())
                free = [u["id"] for u in units if u["id"] not in gone]
                verb = action_type
            wanted = int(line.get("quantity") or len(free))
            if wanted > len(free):
                problems.append(
                    f"Line {line_id}: {wanted} unit(s) asked but {len(free)} left to {verb} "
                    f"on Letzshop."
                )
                continue
            requests.append({**args, "line": line_id, "units": free[:wanted]})
        return problems, ([] if problems else requests)

    def send(self, request: OutboundRequest) -> Any:
        """POST the document to the endpoint; a GraphQL refusal is a :class:`RequestRejected`."""
        body = request.body if isinstance(request.body, dict) else {}
        answer = self.http.request(
            request.method,
            request.path or self.base_url,
            json=request.body,
            idempotent=request.idempotent,
        )
        said = _refusal(answer, RESULT_FIELDS.get(body.get("query")))
        if said:
            number = (body.get("variables") or {}).get("orderId") or (
                (body.get("variables") or {}).get("input") or {}
            ).get("orderNumber")
            raise RequestRejected(f"Letzshop refused the order action on {number}: {said}")
        return answer

    def _act(self, action: str, channel: str, channel_order_id: str, **extra: Any) -> Any:
        params = {"channel": channel, "channel_order_id": channel_order_id, **extra}
        return self.send(self.outbound_request(action, params))

    def accept_order(self, channel: str, channel_order_id: str) -> Any:
        """Confirm the order's units (Letzshop: ``confirmed_available``)."""
        return self._act(ACCEPT, channel, channel_order_id)

    def refuse_order(self, channel: str, channel_order_id: str) -> Any:
        """Decline the order's units (Letzshop: ``confirmed_unavailable``)."""
        return self._act(REFUSE, channel, channel_order_id)

    def ship_order(self, channel: str, channel_order_id: str, shipment: Shipment) -> Any:
        """The tracking of a shipped order (seed 001's mutation, unverified: see .queries).

        Letzshop is known not to read tracking back correctly (CONNECTORS.md section 2): what
        Mercato sent stays the record."""
        extra = {
            key: getattr(shipment, key)
            for key in ("tracking_number", "carrier", "tracking_url", "line")
            if getattr(shipment, key)
        }
        return self._act(SHIP, channel, channel_order_id, **extra)

    def probe_connection(self) -> tuple[str, Mapping[str, Any]]:
        """The orders query, one order long (GraphQL errors come back as RequestRejected)."""
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        pages = iter(self._orders({"first": 1, "since": since}))
        next(pages, None)
        pages.close()
        return "Letzshop answered the orders query with this API token.", {}

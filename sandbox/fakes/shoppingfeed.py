"""The ShoppingFeed fake (API v1, HAL): the token, ``/v1/me``, and the store's inventory and
pricing, updated in batches of at most 100 and read back, as CONNECTORS.md section 7 records
them (the pricing path and the inventory listing are Mercato's guesses,
``connectors/shoppingfeed/unverified.py``).

What it holds is readable and settable for tests and demos under ``/_sandbox/shoppingfeed``:
``GET`` the stores' inventory and pricing with counters of the updates taken; ``POST
/_sandbox/shoppingfeed/inventory`` sets quantities behind Mercato's back (drift for the stock
check) and ``POST /_sandbox/shoppingfeed/pricing`` prices (drift for the price side of the
check); ``POST /_sandbox/shoppingfeed/faults`` switches its own faults on for the next N
inventory/pricing calls: ``{"rate_limit": {"times": 2, "wait": 0.2}}`` answers 429 with
``X-RateLimit-Wait: 0.2``, ``{"server_error": {"times": 2, "status": 500}}`` answers 500.
The sandbox's global fault switches apply too (their 429 carries ``X-RateLimit-Wait``).
"""

from __future__ import annotations

import json
import re
import threading

from flask import Blueprint, request

from sandbox.fake import Fake, current, json_bytes

bp = Blueprint("shoppingfeed", __name__)

DEFAULT_TOKEN = "sandbox-shoppingfeed-token"  # noqa: S105 (a fake server's public demo token)
DEFAULT_USERNAME = "sandbox-shoppingfeed"
DEFAULT_PASSWORD = "sandbox-shoppingfeed-password"  # noqa: S105 (public demo password)
DEFAULT_STORES = (29573,)
MAX_BATCH = 100
UPDATE_PATH = re.compile(r"^/v1/store/\d+/(inventory|pricing)$")


def problem(status: int, message: str, code: str = "", headers=None):
    """ShoppingFeed's error body, assumed problem-JSON ([U] in CONNECTORS.md)."""
    headers = dict(headers or {})
    if status == 429 and "Retry-After" in headers:
        headers["X-RateLimit-Wait"] = headers.pop("Retry-After")
    body = {"type": "https://tools.ietf.org/html/rfc2616#section-10", "title": message}
    body.update({"status": status, "detail": message})
    return json_bytes(json.dumps(body).encode(), status, headers)


class Holdings:
    """What the fake ShoppingFeed holds: per store, inventory and pricing by reference."""

    def __init__(self, stores) -> None:
        self.lock = threading.Lock()
        self.stores = {int(s): {"inventory": {}, "pricing": {}} for s in stores}
        self.faults: dict[str, dict] = {}
        self.counters = {
            "inventory_updates": 0,  # PUT .../inventory taken
            "inventory_items": 0,  # items in them
            "pricing_updates": 0,
            "pricing_items": 0,
            "rate_limited": 0,
            "server_errors": 0,
        }

    def take_fault(self) -> tuple[str, dict] | None:
        with self.lock:
            for name in ("rate_limit", "server_error"):
                fault = self.faults.get(name)
                if fault:
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self.faults.pop(name)
                    self.counters["rate_limited" if name == "rate_limit" else "server_errors"] += 1
                    return name, fault
        return None

    def as_json(self) -> dict:
        with self.lock:
            return {
                "stores": {
                    str(sid): {"inventory": dict(s["inventory"]), "pricing": dict(s["pricing"])}
                    for sid, s in self.stores.items()
                },
                "faults": json.loads(json.dumps(self.faults)),
                "counters": dict(self.counters),
            }


def holdings(sb=None) -> Holdings:
    """The fake's state on the running sandbox (new after a ``/_sandbox/reset``)."""
    sb = sb or current()
    with sb.lock:
        found = getattr(sb, "_shoppingfeed", None)
        if found is None or found[0] is not sb.world:
            stores = sb.config.get("SANDBOX_SHOPPINGFEED_STORES", DEFAULT_STORES)
            found = (sb.world, Holdings(stores))
            sb._shoppingfeed = found
        return found[1]


def _token() -> str:
    return current().config.get("SANDBOX_SHOPPINGFEED_TOKEN", DEFAULT_TOKEN)


def _authorized() -> bool:
    auth = request.headers.get("Authorization", "")
    return auth == f"Bearer {_token()}"


def _unauthorized():
    return problem(401, "Unauthorized: a valid API token is required")


def _store(store_id: int):
    return holdings().stores.get(store_id)


@bp.before_request
def _check():
    path = request.path
    if path.startswith("/_sandbox") or path in ("/v1/auth", "/v1/ping"):
        return None
    if not _authorized():
        return _unauthorized()
    if UPDATE_PATH.match(path):
        taken = holdings().take_fault()
        if taken is not None:
            name, fault = taken
            if name == "rate_limit":
                return problem(
                    429,
                    "Too many requests",
                    headers={"X-RateLimit-Wait": str(fault["wait"])},
                )
            return problem(fault["status"], "Internal server error")
    return None


@bp.get("/v1/ping")
def ping():
    return json_bytes(b'{"timestamp": "ok"}')


@bp.post("/v1/auth")
def auth():
    data = request.get_json(silent=True) or {}
    config = current().config
    user = config.get("SANDBOX_SHOPPINGFEED_USERNAME", DEFAULT_USERNAME)
    password = config.get("SANDBOX_SHOPPINGFEED_PASSWORD", DEFAULT_PASSWORD)
    if data.get("grant_type") != "password":
        return problem(400, "grant_type must be password")
    if data.get("username") != user or data.get("password") != password:
        return problem(401, "Bad credentials")
    body = {"access_token": _token(), "token_type": "bearer"}
    return json_bytes(json.dumps(body).encode())


@bp.get("/v1/me")
def me():
    stores = [
        {
            "id": sid,
            "name": f"Sandbox store {sid}",
            "_links": {
                "inventory": {"href": f"/v1/store/{sid}/inventory"},
                "pricing": {"href": f"/v1/store/{sid}/pricing"},
                "order": {"href": f"/v1/store/{sid}/order"},
            },
        }
        for sid in holdings().stores
    ]
    body = {"token": "********", "_embedded": {"store": stores}}
    return json_bytes(json.dumps(body).encode())


def _items(kind: str):
    """The batch of a PUT, validated: (items, None) or (None, an error response)."""
    data = request.get_json(silent=True)
    items = data.get(kind) if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        return None, problem(400, f"Body must be {{'{kind}': [...]}} with at least one item")
    if len(items) > MAX_BATCH:
        return None, problem(400, f"At most {MAX_BATCH} {kind} items per request")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("reference"), str):
            return None, problem(400, "Each item needs a reference")
        if kind == "inventory":
            qty = item.get("quantity")
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
                return None, problem(400, f"Invalid quantity for {item['reference']}")
        else:
            price = item.get("price")
            if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
                return None, problem(400, f"Invalid price for {item['reference']}")
    return items, None


def _update(store_id: int, kind: str, field: str):
    store = _store(store_id)
    if store is None:
        return problem(404, f"Store {store_id} not found")
    items, error = _items(kind)
    if error is not None:
        return error
    state = holdings()
    with state.lock:
        for item in items:
            store[kind][item["reference"]] = item[field]
        state.counters[f"{kind}_updates"] += 1
        state.counters[f"{kind}_items"] += len(items)
    now = _now_iso()
    embedded = [
        {"id": i + 1, "reference": item["reference"], field: item[field], "updatedAt": now}
        for i, item in enumerate(items)
    ]
    return json_bytes(json.dumps({"_embedded": {kind: embedded}}).encode())


def _now_iso() -> str:
    from sandbox.data import iso

    return iso(current().now())


@bp.put("/v1/store/<int:store_id>/inventory")
def put_inventory(store_id: int):
    return _update(store_id, "inventory", "quantity")


@bp.put("/v1/store/<int:store_id>/pricing")
def put_pricing(store_id: int):
    return _update(store_id, "pricing", "price")


def _listing(store_id: int, kind: str, field: str):
    store = _store(store_id)
    if store is None:
        return problem(404, f"Store {store_id} not found")
    with holdings().lock:
        held = sorted(store[kind].items())
    reference = request.args.get("reference")
    if reference is not None:
        held = [(ref, value) for ref, value in held if ref == reference]
    try:
        page = max(1, int(request.args.get("page", 1)))
        limit = min(200, max(1, int(request.args.get("limit", 20))))
    except ValueError:
        return problem(400, "page and limit must be integers")
    pages = max(1, -(-len(held) // limit))
    chunk = held[(page - 1) * limit : page * limit]
    body = {
        "total": len(held),
        "count": len(chunk),
        "pages": pages,
        "page": page,
        "_embedded": {
            kind: [
                {"id": n + 1 + (page - 1) * limit, "reference": ref, field: value}
                for n, (ref, value) in enumerate(chunk)
            ]
        },
    }
    return json_bytes(json.dumps(body).encode())


@bp.get("/v1/store/<int:store_id>/inventory")
def get_inventory(store_id: int):
    return _listing(store_id, "inventory", "quantity")


@bp.get("/v1/store/<int:store_id>/pricing")
def get_pricing(store_id: int):
    return _listing(store_id, "pricing", "price")


# -- control (for tests and demos; no token) --------------------------------------------------


@bp.get("/_sandbox/shoppingfeed")
def control_state():
    return json_bytes(json.dumps(holdings().as_json()).encode())


@bp.post("/_sandbox/shoppingfeed/inventory")
def control_set_inventory():
    """``{"store": id, "inventory": {reference: quantity or null}}``: set (null: forget)."""
    return _control_set("inventory", int)


@bp.post("/_sandbox/shoppingfeed/pricing")
def control_set_pricing():
    """``{"store": id, "pricing": {reference: price or null}}``: set (null: forget)."""
    return _control_set("pricing", float)


def _control_set(kind: str, cast):
    data = request.get_json(silent=True) or {}
    state = holdings()
    try:
        store = state.stores[int(data.get("store", next(iter(state.stores))))]
    except (KeyError, TypeError, ValueError, StopIteration):
        return problem(404, "unknown store")
    try:
        values = {
            str(ref): None if value is None else cast(value)
            for ref, value in (data.get(kind) or {}).items()
        }
    except (TypeError, ValueError, AttributeError):
        return problem(400, f"{kind}: {{reference: value or null}}")
    with state.lock:
        for ref, value in values.items():
            if value is None:
                store[kind].pop(ref, None)
            else:
                store[kind][ref] = value
    return control_state()


@bp.route("/_sandbox/shoppingfeed/faults", methods=["POST", "DELETE"])
def control_faults():
    state = holdings()
    if request.method == "DELETE":
        with state.lock:
            state.faults = {}
        return control_state()
    data = request.get_json(silent=True) or {}
    faults = {}
    try:
        if data.get("rate_limit"):
            spec = data["rate_limit"]
            faults["rate_limit"] = {
                "times": int(spec.get("times", 1)),
                "wait": float(spec.get("wait", 0.5)),
            }
        if data.get("server_error"):
            spec = data["server_error"]
            faults["server_error"] = {
                "times": int(spec.get("times", 1)),
                "status": int(spec.get("status", 500)),
            }
    except (TypeError, ValueError, AttributeError):
        return problem(400, "faults: rate_limit {times, wait}, server_error {times, status}")
    with state.lock:
        state.faults = {**state.faults, **faults}
    return control_state()


def _state(sb, _summary: dict, _with_ids: bool) -> dict:
    state = holdings(sb).as_json()
    return {
        "shoppingfeed": {
            "token": sb.config.get("SANDBOX_SHOPPINGFEED_TOKEN", DEFAULT_TOKEN),
            "stores": {sid: len(s["inventory"]) for sid, s in state["stores"].items()},
            "counters": state["counters"],
        }
    }


FAKE = Fake(
    code="shoppingfeed",
    blueprint=bp,
    prefixes=("/v1/",),
    error=problem,
    fault_messages={
        "rate_limit": ("Too many requests", "RATE_LIMITED"),
        "server_error": ("Internal server error", "INTERNAL"),
    },
    index=lambda sb: {
        "inventory": "PUT|GET /v1/store/<id>/inventory",
        "pricing": "PUT|GET /v1/store/<id>/pricing",
        "me": "GET /v1/me",
        "token": sb.config.get("SANDBOX_SHOPPINGFEED_TOKEN", DEFAULT_TOKEN),
        "stores": list(holdings(sb).stores),
    },
    state=_state,
    banner=lambda sb, base: [
        f"  ShoppingFeed: {base}/v1  (Authorization: Bearer "
        f"{sb.config.get('SANDBOX_SHOPPINGFEED_TOKEN', DEFAULT_TOKEN)}, "
        f"stores {', '.join(map(str, holdings(sb).stores))})"
    ],
)

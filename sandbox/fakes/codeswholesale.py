"""The CodesWholesale fake (a digital-key supplier, API v2 and v3): token, catalogue, orders
with text, image and pre-order codes, order history, codes, the account and its balance.

Its catalogue is the real 2018 dump when ``SANDBOX_CW_CATALOG`` names it (2,383 products:
id, short name, name, platform, release date, with the dump's quirks kept: empty release
dates, platform ``"None"``, identifiers with ``$`` and spaces), otherwise a generated set of
``SANDBOX_CW_PRODUCTS``.  What the dump lacks (regions, languages, tier prices, stock, the code
type a purchase returns) is derived from each product's id, so it is the same at every start.
Its clients come from ``SANDBOX_CW_CLIENTS`` (default: one demo client).

Besides the app-wide faults (``rate_limit`` answers 429 here too, ``token_ttl`` shortens its
tokens), its own switches, ``POST /_sandbox/codeswholesale/faults`` (``null`` switches one
off; ``DELETE`` clears), each for the next ``times`` purchases:

- ``out_of_stock`` - 400, code 310003 "Cannot complete, too low stock." (the catalogue still
  shows stock, as the real API did after Oct 2020);
- ``balance_too_low`` - 400, code 10002;
- ``gone`` - 404, code 20001 (the product left the price list);
- ``lost_answer: {"seconds": S}`` - the purchase is made (keys sold, balance charged) but its
  answer is held S seconds, past the client's timeout: the answer never comes back.

``GET /_sandbox/codeswholesale`` tells what it sold: keys per client order reference, orders,
balance.  ``POST /_sandbox/codeswholesale/products/<id>`` changes a product (quantity, code
type, listed, price); ``POST /_sandbox/codeswholesale/preorders/assign`` gives every pre-order
its key.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import random
import threading
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from flask import Blueprint, g, jsonify, request

from sandbox.data import iso
from sandbox.fake import Fake, current, json_bytes

bp = Blueprint("codeswholesale", __name__)

TOKEN_LIFETIME = 3600
TOKEN_PREFIX = "cw:"  # noqa: S105 - its tokens share the sandbox's token table with Lengow's, apart
DEFAULT_CLIENT = {"client_id": "sandbox-cw-client", "client_secret": "sandbox-cw-secret"}
DEFAULT_PRODUCTS = 120
DEFAULT_PAGE_SIZE = 500
DEFAULT_BALANCE = "10000.00"
FAULTS = ("out_of_stock", "balance_too_low", "gone", "lost_answer")
REGIONS = (
    ("WORLDWIDE",),
    ("EU",),
    ("EU", "UK"),
    ("RU/CIS",),
    ("NA",),
    ("EMEA",),
)
LANGUAGES = ("Multilanguage", "English", "German", "French", "Polish", "Russian", "Spanish")
PLATFORMS = ("Steam", "Origin", "Uplay", "Xbox Live", "PSN", "Official website", "None")
V2_CODE_STATUS = {"text": "Text code", "image": "Image code", "pre_order": "Pre-ordered code"}
V3_CODE_TYPE = {"text": "CODE_TEXT", "image": "CODE_IMAGE", "pre_order": "PRE_ORDER"}
CENT = Decimal("0.01")
# A 1x1 PNG: what an image code's picture is.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def cw_error(status: int, message: str, code="", headers=None):
    """CodesWholesale's error shape: ``{status, code, message}``."""
    number = code if isinstance(code, int) else status
    body = json.dumps({"status": status, "code": number, "message": message}).encode()
    return json_bytes(body, status, headers)


# -- the catalogue -----------------------------------------------------------------------------


@dataclass
class Product:
    product_id: str
    identifier: str
    name: str
    platform: str
    release_date: str  # as the catalogue writes it ("" when unknown)
    regions: tuple[str, ...]
    languages: tuple[str, ...]
    quantity: int
    price: Decimal  # the tier from 1
    code_kind: str  # "text", "image" or "pre_order": what a purchase of it returns
    listed: bool = True
    updated: float = 0.0

    def tiers(self) -> list[dict]:
        """Quantity tiers: 1-9 at the price, 10-49 3 % less, 50 and more 6 % less."""
        lower = (self.price * Decimal("0.97")).quantize(CENT, ROUND_HALF_UP)
        lowest = (self.price * Decimal("0.94")).quantize(CENT, ROUND_HALF_UP)
        return [
            {"from": 1, "to": 9, "value": float(self.price)},
            {"from": 10, "to": 49, "value": float(lower)},
            {"from": 50, "value": float(lowest)},
        ]

    def unit_price(self, quantity: int) -> Decimal:
        tier = [t for t in self.tiers() if t["from"] <= quantity][-1]
        return Decimal(str(tier["value"]))

    def as_json(self, version: str) -> dict:
        record = {
            "productId": self.product_id,
            "identifier": self.identifier,
            "name": self.name,
            "platform": self.platform,
            "regions": list(self.regions),
            "languages": list(self.languages),
            "releaseDate": self.release_date,
            "quantity": self.quantity,
            "images": [
                {"format": "MEDIUM", "image": f"https://cdn.example/cw/{self.product_id}.jpg"}
            ],
            "prices": self.tiers(),
        }
        if version == "v3":
            record["prices"] = [{"from": t["from"], "value": t["value"]} for t in self.tiers()]
            record["badges"] = []
            record["regionDescription"] = ", ".join(self.regions)
        else:
            base = f"/v2/products/{self.product_id}"
            record["links"] = [
                {"rel": "buy", "href": "/v2/orders"},
                {"rel": "description", "href": f"{base}/description"},
            ]
        return record


def _rng(product_id: str, seed: int) -> random.Random:
    return random.Random(zlib.crc32(product_id.encode()) ^ seed)  # noqa: S311 - not crypto


def _code_kind(index: int) -> str:
    if index % 17 == 3:
        return "pre_order"
    if index % 13 == 5:
        return "image"
    return "text"


def make_product(index: int, row: dict, seed: int) -> Product:
    """A product from a catalogue row (``id, short name, name, platform, date release``),
    its missing fields derived from its id."""
    product_id = row["id"]
    rng = _rng(product_id, seed)
    quantity = 0 if rng.random() < 0.08 else rng.randint(1, 400)
    price = Decimal(str(round(rng.uniform(0.49, 69.99), 2))).quantize(CENT)
    languages = tuple(sorted(rng.sample(LANGUAGES, rng.randint(1, 3)), key=LANGUAGES.index))
    return Product(
        product_id=product_id,
        identifier=row.get("short name", ""),
        name=row.get("name", ""),
        platform=row.get("platform", ""),
        release_date=row.get("date release", ""),
        regions=rng.choice(REGIONS),
        languages=languages,
        quantity=quantity,
        price=price,
        code_kind=_code_kind(index),
    )


def dump_rows(path: str | Path) -> list[dict]:
    """The rows of a catalogue dump CSV (the real 2018 one), as they are."""
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def generated_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)  # noqa: S311 - not crypto
    rows = []
    for i in range(n):
        day = date(2012, 1, 1).toordinal() + rng.randint(0, 4000)
        released = "" if i % 9 == 4 else f"{date.fromordinal(day).isoformat()}T22:00:00.000Z"
        rows.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "short name": f"SBX{i:04d}" + ("$" if i % 11 == 0 else ""),
                "name": f"Sandbox Game {i + 1}",
                "platform": PLATFORMS[i % len(PLATFORMS)],
                "date release": released,
            }
        )
    return rows


def catalogue_records(path: str | Path, version: str = "v2", seed: int = 1) -> list[dict]:
    """The API records the fake serves for the dump at ``path`` (for tests that parse them)."""
    return [make_product(i, row, seed).as_json(version) for i, row in enumerate(dump_rows(path))]


# -- its state -----------------------------------------------------------------------------------


@dataclass
class State:
    world: object  # the sandbox world it was built for: a reset builds a new one
    products: dict[str, Product]
    order: list[str]  # product ids, in catalogue order
    clients: dict[str, str]
    balance: Decimal
    page_size: int
    lock: threading.RLock = field(default_factory=threading.RLock)
    faults: dict = field(default_factory=dict)
    orders: dict[str, dict] = field(default_factory=dict)  # orderId -> order
    codes: dict[str, dict] = field(default_factory=dict)  # codeId -> code
    sold: Counter = field(default_factory=Counter)  # client order reference -> keys sold
    purchases: Counter = field(default_factory=Counter)  # reference -> orders made under it
    counters: Counter = field(default_factory=Counter)

    def take_fault(self, name: str) -> dict | None:
        with self.lock:
            fault = self.faults.get(name)
            if not fault:
                return None
            if fault["times"] <= 1:
                self.faults.pop(name)
            else:
                self.faults[name] = {**fault, "times": fault["times"] - 1}
            return fault


def state(sb) -> State:
    """The fake's state in the running sandbox (built on first use and after a reset)."""
    found = getattr(sb, "_codeswholesale", None)
    if found is not None and found.world is sb.world:
        return found
    with sb.lock:
        found = getattr(sb, "_codeswholesale", None)
        if found is not None and found.world is sb.world:
            return found
        config = sb.config
        seed = int(config.get("SANDBOX_SEED", 1))
        path = config.get("SANDBOX_CW_CATALOG")
        rows = (
            dump_rows(path)
            if path
            else generated_rows(int(config.get("SANDBOX_CW_PRODUCTS", DEFAULT_PRODUCTS)), seed)
        )
        now = sb.now()
        products = {}
        for i, row in enumerate(rows):
            product = make_product(i, row, seed)
            product.updated = now
            products.setdefault(product.product_id, product)
        clients = config.get("SANDBOX_CW_CLIENTS") or [DEFAULT_CLIENT]
        found = State(
            world=sb.world,
            products=products,
            order=list(products),
            clients={c["client_id"]: c["client_secret"] for c in clients},
            balance=Decimal(str(config.get("SANDBOX_CW_BALANCE", DEFAULT_BALANCE))),
            page_size=int(config.get("SANDBOX_CW_PAGE_SIZE", DEFAULT_PAGE_SIZE)),
        )
        sb._codeswholesale = found
        return found


# -- token ----------------------------------------------------------------------------------------


@bp.post("/oauth/token")
def token():
    """Client credentials as a form (v2) or in the query (v3); answers the v2 shape, or the
    other one (``value, tokenType, expiresIn, expiration, expired``) for ``?shape=v3``."""
    sb = current()
    st = state(sb)
    fields = {**request.args.to_dict(), **request.form.to_dict()}
    if fields.get("grant_type") != "client_credentials":
        return json_bytes(json.dumps({"error": "unsupported_grant_type"}).encode(), 400, None)
    client_id, secret = fields.get("client_id"), fields.get("client_secret")
    if not client_id or st.clients.get(client_id) != secret:
        return json_bytes(
            json.dumps(
                {"error": "invalid_client", "error_description": "Bad client credentials"}
            ).encode(),
            401,
            None,
        )
    issued = uuid.uuid4().hex
    ttl = sb.faults.get("token_ttl", TOKEN_LIFETIME)
    now = g.now
    with sb.lock:
        sb.tokens[TOKEN_PREFIX + issued] = {"account_id": None, "expires": now + ttl}
        sb.counters["tokens_issued"] += 1
    if fields.get("shape") == "v3" or "client_secret" in request.args:
        return jsonify(
            {
                "value": issued,
                "tokenType": "bearer",
                "expiresIn": TOKEN_LIFETIME,
                "expiration": iso(now + TOKEN_LIFETIME),
                "expired": False,
            }
        )
    return jsonify({"access_token": issued, "token_type": "bearer", "expires_in": TOKEN_LIFETIME})


def _refused():
    """None when the request's bearer token is good; the 401 answer otherwise."""
    sb = current()
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    with sb.lock:
        info = sb.tokens.get(TOKEN_PREFIX + value.strip()) if scheme.lower() == "bearer" else None
    if info is None or g.now >= info["expires"]:
        sb.count("token_rejections")
        body = {"error": "invalid_token", "error_description": "Access token expired or invalid"}
        return json_bytes(json.dumps(body).encode(), 401, None)
    return None


# -- catalogue ----------------------------------------------------------------------------------


def _selected(st: State) -> list[Product]:
    wanted = {v for raw in request.args.getlist("productIds") for v in raw.split(",") if v}
    products = [st.products[i] for i in st.order if st.products[i].listed]
    if wanted:
        products = [p for p in products if p.product_id in wanted]
    since = request.args.get("updatedSince")
    if since:
        try:
            moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        products = [p for p in products if p.updated >= moment.timestamp()]
    return products


@bp.get("/v2/products")
def v2_products():
    if (refused := _refused()) is not None:
        return refused
    st = state(current())
    with st.lock:
        products = _selected(st)
        if products is None:
            return cw_error(400, "updatedSince is not an ISO 8601 time")
        body = {"items": [p.as_json("v2") for p in products]}
    current().count("pages_served")
    return jsonify(body)


@bp.get("/v3/products")
def v3_products():
    """Pages of ``SANDBOX_CW_PAGE_SIZE`` with a ``continuationToken`` while more remain."""
    if (refused := _refused()) is not None:
        return refused
    st = state(current())
    offset = 0
    token_arg = request.args.get("continuationToken")
    with st.lock:
        if token_arg:
            try:
                offset = int(base64.urlsafe_b64decode(token_arg.encode()).decode())
            except ValueError:
                return cw_error(400, "Invalid continuationToken")
        products = _selected(st)
        if products is None:
            return cw_error(400, "updatedSince is not an ISO 8601 time")
        page = products[offset : offset + st.page_size]
        body: dict = {"items": [p.as_json("v3") for p in page]}
        if offset + st.page_size < len(products):
            body["continuationToken"] = base64.urlsafe_b64encode(
                str(offset + st.page_size).encode()
            ).decode()
    current().count("pages_served")
    return jsonify(body)


@bp.get("/<version>/products/<product_id>")
def one_product(version: str, product_id: str):
    if (refused := _refused()) is not None:
        return refused
    st = state(current())
    product = st.products.get(product_id)
    if version not in ("v2", "v3") or product is None or not product.listed:
        return cw_error(404, "Product not found", 20001)
    return jsonify(product.as_json(version))


# -- orders ---------------------------------------------------------------------------------------


def _text_code(order_id: str, n: int) -> str:
    digest = hashlib.sha256(f"{order_id}:{n}".encode()).hexdigest().upper()
    return "-".join(digest[i : i + 5] for i in range(0, 15, 5))


def _code_json(code: dict, version: str) -> dict:
    record = {"codeId": code["codeId"], "code": code["code"], "filename": code["filename"]}
    if version == "v3":
        record["codeType"] = V3_CODE_TYPE[code["kind"]]
    else:
        record["status"] = V2_CODE_STATUS[code["kind"]]
        record["links"] = [{"rel": "self", "href": f"/v2/codes/{code['codeId']}"}]
    return record


def _order_json(order: dict, version: str, st: State, with_codes: bool = True) -> dict:
    record = {
        "orderId": order["orderId"],
        "clientOrderId": order["clientOrderId"],
        "totalPrice": float(order["totalPrice"]),
        "status": order["status"],
        "createdOn": iso(order["created"]),
    }
    if with_codes:
        record["products"] = [
            {
                "productId": line["productId"],
                "unitPrice": float(line["unitPrice"]),
                "codes": [_code_json(st.codes[c], version) for c in line["codes"]],
            }
            for line in order["products"]
        ]
    return record


@bp.post("/<version>/orders")
def create_order(version: str):
    """Buy keys: ``{allowPreOrder, orderId, products: [{productId, quantity, price?}]}``."""
    if version not in ("v2", "v3"):
        return cw_error(404, "Not found")
    if (refused := _refused()) is not None:
        return refused
    sb = current()
    st = state(sb)
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("products"), list):
        return cw_error(400, "products is required")
    lines = data["products"]
    if not lines or not all(isinstance(x, dict) for x in lines):
        return cw_error(400, "products is required")
    for name, code, status, message in (
        ("gone", 20001, 404, "Product not found in price list"),
        ("out_of_stock", 310003, 400, "Cannot complete, too low stock."),
        ("balance_too_low", 10002, 400, "Your account balance is too low"),
    ):
        if st.take_fault(name):
            st.counters[f"refused_{name}"] += 1
            return cw_error(status, message, code)
    with st.lock:
        wanted = []
        total = Decimal("0")
        for line in lines:
            product = st.products.get(str(line.get("productId")))
            quantity = line.get("quantity")
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                return cw_error(400, "quantity must be a positive integer")
            if product is None or not product.listed:
                return cw_error(404, "Product not found in price list", 20001)
            if product.code_kind == "pre_order" and data.get("allowPreOrder") is False:
                return cw_error(400, "Product is a pre-order and allowPreOrder is false")
            if product.code_kind != "pre_order" and product.quantity < quantity:
                return cw_error(400, "Cannot complete, too low stock.", 310003)
            unit = product.unit_price(quantity)
            total += unit * quantity
            wanted.append((product, quantity, unit))
        if total > st.balance:
            return cw_error(400, "Your account balance is too low", 10002)
        order_id = str(uuid.uuid4())
        reference = data.get("orderId")
        order = {
            "orderId": order_id,
            "clientOrderId": str(reference) if reference is not None else None,
            "totalPrice": total,
            "status": "Completed",
            "created": g.now,
            "products": [],
        }
        n = 0
        for product, quantity, unit in wanted:
            codes = []
            for _ in range(quantity):
                n += 1
                code_id = str(uuid.uuid4())
                kind = product.code_kind
                code = {
                    "codeId": code_id,
                    "kind": kind,
                    "code": None,
                    "filename": None,
                    "productId": product.product_id,
                }
                if kind == "text":
                    code["code"] = _text_code(order_id, n)
                elif kind == "image":
                    code["code"] = base64.b64encode(PNG).decode()
                    code["filename"] = f"{code_id}.png"
                st.codes[code_id] = code
                codes.append(code_id)
            if product.code_kind != "pre_order":
                product.quantity -= quantity
            product.updated = g.now
            order["products"].append(
                {"productId": product.product_id, "unitPrice": unit, "codes": codes}
            )
        st.balance -= total
        st.orders[order_id] = order
        keys = sum(q for _, q, _ in wanted)
        st.sold[order["clientOrderId"] or f"(none) {order_id}"] += keys
        st.purchases[order["clientOrderId"] or f"(none) {order_id}"] += 1
        st.counters["orders"] += 1
        st.counters["keys_sold"] += keys
        body = _order_json(order, version, st)
    lost = st.take_fault("lost_answer")
    if lost:
        st.counters["answers_lost"] += 1
        time.sleep(lost["seconds"])  # bought; the client has stopped waiting
    return jsonify(body)


@bp.get("/<version>/orders")
def order_history(version: str):
    """``?startFrom=YYYY-MM-DD&endOn=YYYY-MM-DD`` (days, UTC, inclusive): ``{items}``, each
    order without its codes."""
    if version not in ("v2", "v3"):
        return cw_error(404, "Not found")
    if (refused := _refused()) is not None:
        return refused
    st = state(current())
    try:
        start = date.fromisoformat(request.args.get("startFrom", "1970-01-01"))
        end = date.fromisoformat(request.args.get("endOn", "9999-12-31"))
    except ValueError:
        return cw_error(400, "startFrom and endOn are dates (YYYY-MM-DD)")
    with st.lock:
        items = [
            _order_json(o, version, st, with_codes=False)
            for o in st.orders.values()
            if start <= datetime.fromtimestamp(o["created"], UTC).date() <= end
        ]
    return jsonify({"items": items})


@bp.get("/<version>/orders/<order_id>")
def one_order(version: str, order_id: str):
    if (refused := _refused()) is not None:
        return refused
    st = state(current())
    with st.lock:
        order = st.orders.get(order_id)
        if version not in ("v2", "v3") or order is None:
            return cw_error(404, "Order not found")
        return jsonify(_order_json(order, version, st))


@bp.get("/<version>/codes/<code_id>")
def one_code(version: str, code_id: str):
    if (refused := _refused()) is not None:
        return refused
    st = state(current())
    with st.lock:
        code = st.codes.get(code_id)
        if version not in ("v2", "v3") or code is None:
            return cw_error(404, "Code not found")
        return jsonify(_code_json(code, version))


@bp.get("/<version>/accounts/current")
def account(version: str):
    if (refused := _refused()) is not None:
        return refused
    st = state(current())
    with st.lock:
        balance = st.balance
    return jsonify(
        {
            "fullName": "Sandbox Digital",
            "email": "digital@sandbox.example",
            "currentBalance": float(balance),
            "currentCredit": 0.0,
            "totalToUse": float(balance),
        }
    )


# -- control --------------------------------------------------------------------------------------


def _sales(st: State) -> dict:
    with st.lock:
        return {
            "orders": st.counters["orders"],
            "keys_sold": st.counters["keys_sold"],
            "sold_by_reference": dict(st.sold),
            "orders_by_reference": dict(st.purchases),
            "balance": str(st.balance),
            "faults": dict(st.faults),
            "counters": dict(st.counters),
            "products": len(st.products),
        }


@bp.get("/_sandbox/codeswholesale")
def sales():
    return jsonify(_sales(state(current())))


@bp.route("/_sandbox/codeswholesale/faults", methods=["POST", "DELETE"])
def faults():
    st = state(current())
    if request.method == "DELETE":
        with st.lock:
            st.faults.clear()
        return jsonify({"faults": {}})
    spec = request.get_json(silent=True)
    if not isinstance(spec, dict):
        return cw_error(400, "expected a JSON object")
    with st.lock:
        for name, value in spec.items():
            if name not in FAULTS:
                return cw_error(400, f"unknown fault {name!r} (choose from {', '.join(FAULTS)})")
            if value is None or value is False:
                st.faults.pop(name, None)
                continue
            value = value if isinstance(value, dict) else {}
            times = value.get("times", 1)
            if isinstance(times, bool) or not isinstance(times, int) or times < 1:
                return cw_error(400, f"{name}.times must be a positive integer")
            fault = {"times": times}
            if name == "lost_answer":
                seconds = value.get("seconds", 2)
                if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                    return cw_error(400, "lost_answer.seconds must be a number")
                fault["seconds"] = seconds
            st.faults[name] = fault
        return jsonify({"faults": dict(st.faults)})


@bp.post("/_sandbox/codeswholesale/products/<product_id>")
def change_product(product_id: str):
    """``{quantity?, code_kind?, listed?, price?}``: stock, what a purchase returns, whether it
    is in the price list, its tier-1 price."""
    sb = current()
    st = state(sb)
    data = request.get_json(silent=True) or {}
    with st.lock:
        product = st.products.get(product_id)
        if product is None:
            return cw_error(404, "Product not found")
        if "quantity" in data:
            product.quantity = int(data["quantity"])
        if "code_kind" in data:
            if data["code_kind"] not in V2_CODE_STATUS:
                return cw_error(400, "code_kind is text, image or pre_order")
            product.code_kind = data["code_kind"]
        if "listed" in data:
            product.listed = bool(data["listed"])
        if "price" in data:
            product.price = Decimal(str(data["price"])).quantize(CENT)
        product.updated = sb.now()
        return jsonify(product.as_json("v2"))


@bp.post("/_sandbox/codeswholesale/preorders/assign")
def assign_preorders():
    """Every pre-ordered code gets its key (as the pre-order-assigned postback announces)."""
    st = state(current())
    assigned = 0
    with st.lock:
        for code_id, code in st.codes.items():
            if code["kind"] == "pre_order":
                code["kind"] = "text"
                code["code"] = _text_code(code_id, 0)
                assigned += 1
    return jsonify({"assigned": assigned})


def _index(sb) -> dict:
    st = state(sb)
    return {
        "token": "POST /oauth/token (client_credentials: client_id, client_secret)",
        "catalogue": "GET /v2/products, GET /v3/products?continuationToken=…",
        "orders": "POST /v2/orders, GET /v2/orders?startFrom=&endOn=, GET /v2/orders/{id}",
        "codes": "GET /v2/codes/{codeId}",
        "account": "GET /v2/accounts/current",
        "clients": [{"client_id": k, "client_secret": v} for k, v in st.clients.items()],
        "control": [
            "GET /_sandbox/codeswholesale",
            "POST|DELETE /_sandbox/codeswholesale/faults",
            "POST /_sandbox/codeswholesale/products/{id}",
            "POST /_sandbox/codeswholesale/preorders/assign",
        ],
    }


def _state(sb, _summary: dict, with_ids: bool) -> dict:
    st = state(sb)
    summary = _sales(st)
    if with_ids:
        with st.lock:
            by_kind: dict[str, list[str]] = {}
            for pid in st.order:
                product = st.products[pid]
                if product.listed and (product.quantity or product.code_kind == "pre_order"):
                    by_kind.setdefault(product.code_kind, []).append(pid)
        summary["examples"] = {kind: ids[:5] for kind, ids in by_kind.items()}
    return {"codeswholesale": summary}


def _banner(sb, base: str) -> list[str]:
    st = state(sb)
    lines = [f"  CodesWholesale: {base}/oauth/token, {base}/v2/products ({len(st.products)})"]
    for client_id, secret in st.clients.items():
        lines.append(f"    client_id={client_id} client_secret={secret}")
    return lines


FAKE = Fake(
    code="codeswholesale",
    blueprint=bp,
    prefixes=("/oauth/", "/v2/", "/v3/"),
    error=cw_error,
    fault_messages={
        "rate_limit": ("Too many requests", 429),
        "server_error": ("Internal server error", 500),
    },
    index=_index,
    state=_state,
    banner=_banner,
)

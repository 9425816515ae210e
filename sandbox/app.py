"""A fake marketplace server: Lengow API v3 and the Letzshop GraphQL orders query.

``create_sandbox_app(config)`` builds a small, separate Flask app with no database, Redis
or secrets. State lives in memory (``app.extensions["sandbox"]``); ``/_sandbox/*`` lets
tests and demos drive time, switch faults on and off and read what the server holds.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import uuid
from urllib.parse import urlencode

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox.data import (
    ACTIONS,
    LETZSHOP,
    LETZSHOP_STATUSES,
    MARKETPLACES,
    Clock,
    Order,
    World,
    iso,
    parse_date,
)

DEFAULT_ACCOUNTS = (5622, 6395, 17220)
DEFAULT_LETZSHOP_TOKEN = "sandbox-letzshop-token"  # noqa: S105 (a fake server's public demo token)
TOKEN_LIFETIME = 3600  # seconds, as documented; expire_at always announces this
MAX_PAGE_SIZE = 100
DEFAULT_WINDOW = 7 * 86400  # marketplace_order_date_from defaults to now - 7 days

DEFAULTS = {
    "SANDBOX_SEED": 1,
    "SANDBOX_ORDERS": 200,  # orders per account (and for Letzshop) generated at start
    "SANDBOX_ACCOUNTS": list(DEFAULT_ACCOUNTS),
    "SANDBOX_LETZSHOP_TOKEN": DEFAULT_LETZSHOP_TOKEN,
    "SANDBOX_FAULTS": None,
    "SANDBOX_START": None,  # epoch seconds of sandbox "now" at start; None = wall clock
    "SANDBOX_REALTIME": True,  # sandbox time follows the wall clock (False: only /advance)
    "SANDBOX_CLOCK": None,  # callable -> epoch seconds, replaces START/REALTIME
    "SANDBOX_STEP_SECONDS": 15.0,  # sandbox seconds between lifecycle steps
    "SANDBOX_HISTORY_DAYS": 5.0,  # order dates of the initial orders span this many days
}

# -- faults ----------------------------------------------------------------------------

PRESETS = {
    "429": {"rate_limit": {"every": 10, "retry_after": 1}},
    "500": {"server_error": {"every": 13, "status": 500}},
    "slow": {"slow": {"seconds": 0.5, "every": 4}},
    "expire": {"token_ttl": 60},
    "move": {"move_on_page": 2},
}
PRESET_ALIASES = {
    "rate_limit": "429",
    "server_error": "500",
    "5xx": "500",
    "token_ttl": "expire",
    "move_on_page": "move",
}


class FaultError(ValueError):
    pass


def _number(value, name: str, minimum: float, integer: bool = False):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{name} must be a number")
    if value < minimum:
        raise FaultError(f"{name} must be >= {minimum}")
    if integer and int(value) != value:
        raise FaultError(f"{name} must be an integer")
    return int(value) if integer else value


def normalize_faults(spec: dict, base: dict | None = None) -> dict:
    """Validate a fault dict (see module doc of ``sandbox``); ``None`` switches off."""
    if not isinstance(spec, dict):
        raise FaultError("faults must be a JSON object")
    faults = dict(base or {})
    for key, value in spec.items():
        if key not in ("rate_limit", "server_error", "slow", "token_ttl", "move_on_page"):
            raise FaultError(f"unknown fault {key!r}")
        if value is None or value is False:
            faults.pop(key, None)
            continue
        if key == "rate_limit":
            if not isinstance(value, dict):
                raise FaultError("rate_limit must be an object")
            faults[key] = {
                "every": _number(value.get("every", 10), "rate_limit.every", 1, True),
                "retry_after": _number(value.get("retry_after", 1), "rate_limit.retry_after", 0),
            }
        elif key == "server_error":
            if not isinstance(value, dict):
                raise FaultError("server_error must be an object")
            faults[key] = {
                "every": _number(value.get("every", 13), "server_error.every", 1, True),
                "status": _number(value.get("status", 500), "server_error.status", 500, True),
            }
        elif key == "slow":
            if not isinstance(value, dict):
                raise FaultError("slow must be an object")
            faults[key] = {
                "seconds": _number(value.get("seconds", 0.5), "slow.seconds", 0),
                "every": _number(value.get("every", 1), "slow.every", 1, True),
            }
        elif key == "token_ttl":
            faults[key] = _number(value, "token_ttl", 0)
        else:
            faults[key] = _number(value, "move_on_page", 1, True)
    return faults


def parse_faults(value) -> dict:
    """Faults from a CLI/config value: "429,500,slow,expire,move", a list of those, or a dict."""
    if value is None or value == "" or value == "none":
        return {}
    if isinstance(value, dict):
        return normalize_faults(value)
    names = value.split(",") if isinstance(value, str) else list(value)
    faults: dict = {}
    for raw in names:
        name = str(raw).strip().lower()
        if not name:
            continue
        name = PRESET_ALIASES.get(name, name)
        if name not in PRESETS:
            raise FaultError(f"unknown fault {raw!r} (choose from {', '.join(PRESETS)} or 'none')")
        faults = normalize_faults(PRESETS[name], faults)
    return faults


# -- state -----------------------------------------------------------------------------


class Sandbox:
    """Everything the fake server knows: the world, the clock, tokens, faults, counters."""

    def __init__(self, config: dict):
        self.config = config
        self.lock = threading.RLock()
        accounts = []
        for entry in config["SANDBOX_ACCOUNTS"]:
            if isinstance(entry, dict):
                account_id = int(entry["id"])
                access = entry.get("access_token", f"sandbox-access-{account_id}")
                secret = entry.get("secret", f"sandbox-secret-{account_id}")
            else:
                account_id = int(entry)
                access, secret = f"sandbox-access-{account_id}", f"sandbox-secret-{account_id}"
            accounts.append({"id": account_id, "access_token": access, "secret": secret})
        self.accounts = accounts
        self.credentials = {a["access_token"]: a for a in accounts}
        self.letzshop_token = config["SANDBOX_LETZSHOP_TOKEN"]
        self.reset()

    def reset(self) -> None:
        config = self.config
        with self.lock:
            self.clock = Clock(
                start=config["SANDBOX_START"],
                realtime=bool(config["SANDBOX_REALTIME"]),
                source=config["SANDBOX_CLOCK"],
            )
            self.world = World(
                seed=int(config["SANDBOX_SEED"]),
                accounts=[a["id"] for a in self.accounts],
                orders_per_channel=int(config["SANDBOX_ORDERS"]),
                now=self.clock.now(),
                history_days=float(config["SANDBOX_HISTORY_DAYS"]),
                step_seconds=float(config["SANDBOX_STEP_SECONDS"]),
            )
            self.faults = parse_faults(config["SANDBOX_FAULTS"])
            self.tokens: dict[str, dict] = {}
            self.request_no = 0
            self.counters = {
                "requests": 0,
                "rate_limited": 0,
                "server_errors": 0,
                "slowed": 0,
                "moved": 0,
                "tokens_issued": 0,
                "token_rejections": 0,
                "pages_served": 0,
                "merchant_order_ids_set": 0,  # successful PATCH /v3.0/orders/moi/
            }
            # Filtered, sorted order lists by (account, query without page), reused while the
            # world's version holds: reading page after page costs a slice, not a sort.
            self.selections: dict[tuple, tuple[int, list]] = {}

    def now(self) -> float:
        return self.clock.now()

    def warm(self) -> None:
        """Serialise every order once, so the first reads are as fast as the next ones."""
        with self.world.lock:
            for channel, orders in self.world.channels.items():
                for order in orders:
                    if channel == LETZSHOP:
                        order.letzshop_json()
                    else:
                        order.lengow_json()

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counters[name] += n

    def state(self, with_ids: bool = True) -> dict:
        summary = self.world.summary()
        accounts = {}
        for account in self.accounts:
            entry = summary[str(account["id"])]
            if not with_ids:
                entry.pop("ids")
            entry["access_token"] = account["access_token"]
            entry["secret"] = account["secret"]
            accounts[str(account["id"])] = entry
        letzshop = summary[LETZSHOP]
        letzshop.pop("marketplaces", None)
        if not with_ids:
            letzshop.pop("ids")
        letzshop["token"] = self.letzshop_token
        now = self.now()
        with self.lock:
            return {
                "now": iso(now),
                "now_ts": now,
                "seed": int(self.config["SANDBOX_SEED"]),
                "faults": self.faults,
                "counters": dict(self.counters),
                "events": dict(self.world.events),
                "tokens": len(self.tokens),
                "accounts": accounts,
                "letzshop": letzshop,
            }


# -- responses -------------------------------------------------------------------------


def json_bytes(body: bytes, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body, status=status, mimetype="application/json", headers=headers)


def lengow_error(status: int, message: str, headers: dict | None = None) -> Response:
    body = json.dumps({"error": {"code": status, "message": message}}).encode()
    return json_bytes(body, status, headers)


def graphql_error(status: int, message: str, code: str, headers: dict | None = None) -> Response:
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    return json_bytes(body, status, headers)


def _sandbox() -> Sandbox:
    from flask import current_app

    return current_app.extensions["sandbox"]


def _page_url(page: int) -> bytes:
    args = request.args.to_dict(flat=False)
    args["page"] = [str(page)]
    return json.dumps(f"{request.base_url}?{urlencode(args, doseq=True)}").encode()


def _values(name: str) -> list[str]:
    out: list[str] = []
    for raw in request.args.getlist(name):
        out.extend(v for v in raw.split(",") if v)
    return out


ORDERING_FIELDS = {
    "marketplace": lambda o: o.marketplace,
    "marketplace_order_id": lambda o: o.ext_id,
    "merchant_order_id": lambda o: ",".join(o.moi or []),
    "lengow_status": lambda o: o.status,
    "marketplace_status": lambda o: o.mp_status(),
    "marketplace_order_date": lambda o: o.created,
    "imported_at": lambda o: o.imported,
    "updated_at": lambda o: o.updated,
}
DATE_FILTERS = {
    "marketplace_order_date": "created",
    "imported": "imported",
    "updated": "updated",
}


def _lengow_filters(now: float) -> list:
    """Predicates of the orders filters in the query string (ValueError if malformed)."""
    preds = []
    for name in ("marketplace", "lengow_status"):
        wanted = set(_values(name))
        if wanted:
            attr = "marketplace" if name == "marketplace" else "status"
            preds.append(lambda o, w=wanted, a=attr: getattr(o, a) in w)
    wanted_mp = set(_values("marketplace_status"))
    if wanted_mp:
        preds.append(lambda o, w=wanted_mp: o.mp_status() in w)
    ids = set(_values("marketplace_order_id"))
    if ids:
        preds.append(lambda o, w=ids: o.ext_id in w)
    moi = request.args.get("merchant_order_id")
    if moi is not None:
        if moi == "None":
            preds.append(lambda o: not o.moi)
        else:
            preds.append(lambda o, m=moi: m in (o.moi or []))
    dated = False
    for prefix, attr in DATE_FILTERS.items():
        for suffix, lower in (("_from", True), ("_to", False)):
            raw = request.args.get(prefix + suffix)
            if raw is None:
                continue
            try:
                bound = parse_date(raw)
            except ValueError as exc:
                raise ValueError(f"{prefix + suffix}: invalid date {raw!r}") from exc
            dated = True
            if lower:
                preds.append(lambda o, b=bound, a=attr: getattr(o, a) >= b)
            else:
                preds.append(lambda o, b=bound, a=attr: getattr(o, a) <= b)
    if not dated and not ids:
        # Documented default: marketplace_order_date_from = current day - 7 days.
        preds.append(lambda o, b=now - DEFAULT_WINDOW: o.created >= b)
    return preds


def _selection(sb: Sandbox, account_id: int, now: float) -> list[Order]:
    """The account's orders the query selects, in the query's order (ValueError if malformed).

    Called with the world locked. A dated or by-id query does not depend on the time of the
    request, so its selection is kept until the world changes and the next page is a slice.
    """
    world = sb.world
    args = request.args
    timeless = bool(_values("marketplace_order_id")) or any(
        args.get(prefix + suffix) is not None
        for prefix in DATE_FILTERS
        for suffix in ("_from", "_to")
    )
    key = (account_id, tuple(sorted((k, tuple(args.getlist(k))) for k in args if k != "page")))
    cached = sb.selections.get(key) if timeless else None
    if cached is not None and cached[0] == world.version:
        return cached[1]
    preds = _lengow_filters(now)
    orders = world.channels[account_id]
    selected = [o for o in orders if all(p(o) for p in preds)] if preds else list(orders)
    selected = _ordering(selected)
    if timeless:
        if len(sb.selections) > 32:
            sb.selections.clear()
        sb.selections[key] = (world.version, selected)
    return selected


def _ordering(orders: list[Order]) -> list[Order]:
    raw = request.args.get("ordering")
    if not raw:
        return orders  # already in the default order: marketplace_order_date, then id
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    for field in fields:
        if field.lstrip("-") not in ORDERING_FIELDS:
            raise ValueError(f"ordering: unknown field {field!r}")
    result = sorted(orders, key=lambda o: o.seq)
    for field in reversed(fields):
        key = ORDERING_FIELDS[field.lstrip("-")]
        result.sort(key=key, reverse=field.startswith("-"))
    return result


LETZSHOP_ORDERS_RE = re.compile(r"\borders\s*\(")
FIRST_RE = re.compile(r"\bfirst\s*:\s*(\d+)")
AFTER_RE = re.compile(r'\bafter\s*:\s*"([^"]*)"')


def _cursor(index: int) -> str:
    return base64.b64encode(f"arrayconnection:{index}".encode()).decode()


def _uncursor(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    prefix, _, number = text.partition(":")
    if prefix != "arrayconnection" or not number.isdigit():
        raise ValueError("invalid cursor")
    return int(number)


# -- app -------------------------------------------------------------------------------


def create_sandbox_app(config: dict | None = None) -> Flask:
    app = Flask("mercato_sandbox")
    app.config.update(DEFAULTS)
    if config:
        app.config.update(config)
    app.json.sort_keys = False
    sandbox = Sandbox(app.config)
    app.extensions["sandbox"] = sandbox

    @app.before_request
    def _faults_and_time():
        path = request.path
        if path.startswith("/_sandbox") or path == "/":
            return None
        sb = _sandbox()
        graphql = path.startswith("/graphql")
        with sb.lock:
            sb.request_no += 1
            n = sb.request_no
            sb.counters["requests"] += 1
            faults = sb.faults
        limit = faults.get("rate_limit")
        if limit and n % limit["every"] == 0:
            sb.count("rate_limited")
            headers = {"Retry-After": str(int(limit["retry_after"]))}
            if graphql:
                return graphql_error(429, "Too many requests", "RATE_LIMITED", headers)
            return lengow_error(429, "Request limitation reached", headers)
        error = faults.get("server_error")
        if error and n % error["every"] == 0:
            sb.count("server_errors")
            if graphql:
                return graphql_error(error["status"], "Internal server error", "INTERNAL")
            return lengow_error(error["status"], "Technical error")
        slow = faults.get("slow")
        if slow and n % slow["every"] == 0:
            sb.count("slowed")
            time.sleep(slow["seconds"])
        g.now = sb.now()
        sb.world.tick(g.now)
        return None

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = exc.code or 500
        if request.path.startswith("/graphql"):
            return graphql_error(code, exc.description or exc.name, exc.name.upper())
        return lengow_error(code, exc.description or exc.name)

    @app.get("/")
    def index():
        sb = _sandbox()
        return jsonify(
            {
                "sandbox": "Mercato fake marketplaces",
                "lengow": {
                    "token": "POST /access/get_token (form: access_token, secret)",
                    "orders": "GET /v3.0/orders/?account_id=…",
                    "merchant_order_id": "PATCH /v3.0/orders/moi/",
                    "actions": "GET|POST /v3.0/orders/actions/",
                    "marketplaces": "GET /v3.0/marketplaces",
                    "accounts": [
                        {k: a[k] for k in ("id", "access_token", "secret")} for a in sb.accounts
                    ],
                },
                "letzshop": {"graphql": "POST /graphql", "token": sb.letzshop_token},
                "control": [
                    "GET /_sandbox/state",
                    "GET|POST|DELETE /_sandbox/faults",
                    "POST /_sandbox/advance?seconds=N",
                    "POST /_sandbox/orders",
                    "POST /_sandbox/tokens/expire",
                    "POST /_sandbox/reset",
                ],
            }
        )

    # -- Lengow ----------------------------------------------------------------------

    def lengow_account():
        """The account id of the request's token, or an error response."""
        sb = _sandbox()
        token = request.headers.get("Authorization", "").strip()
        if not token:
            sb.count("token_rejections")
            return None, lengow_error(401, "Unauthorized access: missing Authorization header")
        with sb.lock:
            info = sb.tokens.get(token)
        if info is None:
            sb.count("token_rejections")
            return None, lengow_error(401, "Unauthorized access: invalid token")
        if g.now >= info["expires"]:
            sb.count("token_rejections")
            return None, lengow_error(401, "Unauthorized access: token expired")
        return info["account_id"], None

    def account_param(token_account: int, required: bool = True):
        raw = request.args.get("account_id")
        if raw is None:
            if required:
                return None, lengow_error(400, "account_id is a mandatory filter")
            return token_account, None
        try:
            account_id = int(raw)
        except ValueError:
            return None, lengow_error(400, f"account_id: invalid integer {raw!r}")
        if account_id != token_account:
            return None, lengow_error(403, "Forbidden: this token cannot access that account")
        return account_id, None

    @app.post("/access/get_token")
    def get_token():
        sb = _sandbox()
        data = request.form if request.form else (request.get_json(silent=True) or {})
        access, secret = data.get("access_token"), data.get("secret")
        if not access or not secret:
            return lengow_error(400, "access_token and secret are required")
        account = sb.credentials.get(access)
        if account is None or account["secret"] != secret:
            return lengow_error(401, "Unauthorized access: invalid access_token or secret")
        token = str(uuid.uuid4())
        now = g.now
        ttl = sb.faults.get("token_ttl", TOKEN_LIFETIME)
        with sb.lock:
            sb.tokens[token] = {"account_id": account["id"], "expires": now + ttl}
            sb.counters["tokens_issued"] += 1
        return jsonify(
            {
                "token": token,
                "account_id": account["id"],
                "user_id": account["id"] * 10 + 1,
                "expire_at": iso(now + TOKEN_LIFETIME, micro=False),
            }
        )

    @app.get("/v3.0/orders/", strict_slashes=False)
    def list_orders():
        sb = _sandbox()
        token_account, error = lengow_account()
        if error:
            return error
        account_id, error = account_param(token_account)
        if error:
            return error
        try:
            page = int(request.args.get("page", 1))
            page_size = int(request.args.get("page_size", MAX_PAGE_SIZE))
        except ValueError:
            return lengow_error(400, "page and page_size must be integers")
        if page < 1 or page_size < 1:
            return lengow_error(400, "page and page_size must be positive")
        page_size = min(page_size, MAX_PAGE_SIZE)
        now = g.now
        world = sb.world
        try:
            with world.lock:
                selected = _selection(sb, account_id, now)
                count = len(selected)
                start = (page - 1) * page_size
                if page > 1 and start >= count:
                    return lengow_error(404, "Invalid page.")
                chunk = selected[start : start + page_size]
                results = b",".join(o.lengow_json() for o in chunk)
        except ValueError as exc:
            return lengow_error(400, str(exc))
        next_url = _page_url(page + 1) if start + page_size < count else b"null"
        prev_url = _page_url(page - 1) if page > 1 else b"null"
        body = b'{"count":%d,"next":%s,"previous":%s,"results":[%s]}' % (
            count,
            next_url,
            prev_url,
            results,
        )
        sb.count("pages_served")
        if sb.faults.get("move_on_page") == page and chunk:
            world.move(account_id, chunk, now)
            sb.count("moved")
        return json_bytes(body)

    @app.patch("/v3.0/orders/moi/", strict_slashes=False)
    def set_merchant_order_id():
        sb = _sandbox()
        token_account, error = lengow_account()
        if error:
            return error
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            data = request.form.to_dict(flat=False)
            data = {k: (v if k == "merchant_order_id" else v[0]) for k, v in data.items()}
        missing = [
            k
            for k in ("account_id", "marketplace", "marketplace_order_id", "merchant_order_id")
            if data.get(k) in (None, "")
        ]
        if missing:
            return lengow_error(400, f"missing parameter(s): {', '.join(missing)}")
        try:
            account_id = int(data["account_id"])
        except (TypeError, ValueError):
            return lengow_error(400, "account_id must be an integer")
        if account_id != token_account:
            return lengow_error(403, "Forbidden: this token cannot access that account")
        moi = data["merchant_order_id"]
        if isinstance(moi, str | int):
            moi = [moi]
        if not isinstance(moi, list) or not all(isinstance(m, str | int) for m in moi):
            return lengow_error(400, "merchant_order_id must be a list of strings")
        world = sb.world
        with world.lock:
            order = world.find(account_id, data["marketplace"], str(data["marketplace_order_id"]))
            if order is None:
                return lengow_error(404, "Order not found")
            order.moi = [str(m) for m in moi]
            order._json = None
            world.version += 1
            body = order.lengow_json()
        sb.count("merchant_order_ids_set")
        return json_bytes(body)

    def action_view(action: dict, now: float, step: float) -> dict:
        if action["queued"] and now - action["_created"] >= step:
            action["queued"] = False
            action["processed"] = True
            action["updated_at"] = iso(action["_created"] + step)
        return {k: v for k, v in action.items() if not k.startswith("_")}

    @app.get("/v3.0/orders/actions/", strict_slashes=False)
    def list_actions():
        sb = _sandbox()
        token_account, error = lengow_account()
        if error:
            return error
        account_id, error = account_param(token_account)
        if error:
            return error
        world = sb.world
        filters = {
            k: request.args[k]
            for k in ("id", "marketplace", "marketplace_order_id", "action_type")
            if k in request.args
        }
        flags = {
            k: request.args[k].lower() in ("1", "true")
            for k in ("processed", "queued")
            if k in request.args
        }
        with world.lock:
            rows = []
            for action in world.actions:
                if action["account_id"] != account_id:
                    continue
                view = action_view(action, g.now, world.step_seconds)
                if any(str(view[k]) != v for k, v in filters.items()):
                    continue
                if any(view[k] != v for k, v in flags.items()):
                    continue
                rows.append(view)
        return jsonify({"count": len(rows), "next": None, "previous": None, "results": rows})

    @app.post("/v3.0/orders/actions/", strict_slashes=False)
    def create_action():
        sb = _sandbox()
        token_account, error = lengow_account()
        if error:
            return error
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            data = request.form.to_dict()
        missing = [
            k
            for k in ("account_id", "marketplace", "marketplace_order_id", "action_type")
            if not data.get(k)
        ]
        if missing:
            return lengow_error(400, f"missing parameter(s): {', '.join(missing)}")
        try:
            account_id = int(data["account_id"])
        except (TypeError, ValueError):
            return lengow_error(400, "account_id must be an integer")
        if account_id != token_account:
            return lengow_error(403, "Forbidden: this token cannot access that account")
        action_type = data["action_type"]
        if action_type not in ACTIONS:
            return lengow_error(400, f"action_type: unknown action {action_type!r}")
        world = sb.world
        now = g.now
        with world.lock:
            order = world.find(account_id, data["marketplace"], str(data["marketplace_order_id"]))
            if order is None:
                return lengow_error(404, "Order not found")
            allowed, _to = ACTIONS[action_type]
            if order.status not in allowed:
                return lengow_error(
                    400,
                    f"Action {action_type} is not available from status {order.status}",
                )
            if action_type == "ship" and not data.get("tracking_number"):
                return lengow_error(400, "tracking_number is required for ship")
            world.apply_action(order, action_type, now)
            if action_type == "ship":
                for tracking in order.trackings:
                    tracking["number"] = data.get("tracking_number")
                    tracking["carrier"] = data.get("carrier") or tracking["carrier"]
                    tracking["url"] = data.get("tracking_url")
                order._json = None
            action = {
                "id": len(world.actions) + 1,
                "marketplace_order_id": order.ext_id,
                "account_id": account_id,
                "marketplace": order.marketplace,
                "action_type": action_type,
                "processed": False,
                "queued": True,
                "tracking_number": data.get("tracking_number"),
                "tracking_url": data.get("tracking_url"),
                "carrier": data.get("carrier"),
                "line": data.get("line"),
                "created_at": iso(now),
                "updated_at": iso(now),
                "errors": "",
                "_created": now,
            }
            world.actions.append(action)
            view = {k: v for k, v in action.items() if not k.startswith("_")}
        return jsonify(view), 201

    @app.get("/v3.0/marketplaces", strict_slashes=False)
    def marketplaces():
        sb = _sandbox()
        token_account, error = lengow_account()
        if error:
            return error
        account_id, error = account_param(token_account, required=False)
        if error:
            return error
        codes = sb.world.marketplaces[account_id] if "account_id" in request.args else None
        codes = codes or sorted(MARKETPLACES)
        wanted = request.args.get("marketplace")
        if wanted:
            if wanted not in MARKETPLACES:
                return lengow_error(404, f"Marketplace {wanted} not found")
            codes = [wanted]
        out = {}
        for code in codes:
            mp = MARKETPLACES[code]
            statuses: dict[str, list[str]] = {}
            for lengow_status, mp_status in mp["status"].items():
                statuses.setdefault(lengow_status, []).append(mp_status)
            actions = {}
            for name, (allowed, _to) in ACTIONS.items():
                args = ["tracking_number", "carrier"] if name == "ship" else []
                optional = ["tracking_url", "line"] if name == "ship" else ["line"]
                actions[name] = {
                    "status": list(allowed),
                    "args": args,
                    "optional_args": optional,
                    "args_description": {
                        arg: {
                            "type": "string",
                            "depends_on": None,
                            "valid_values": (
                                {k: {"label": v} for k, v in mp["carriers"].items()}
                                if arg == "carrier"
                                else {}
                            ),
                            "default_value": "",
                            "accept_free_values": arg != "carrier",
                        }
                        for arg in args + optional
                    },
                }
            out[code] = {
                "package": f"mp_{code}",
                "country_iso_a2": mp["iso2"],
                "country": mp["country"],
                "name": mp["name"],
                "legacy_code": code,
                "orders": {
                    "carriers": {k: {"label": v} for k, v in mp["carriers"].items()},
                    "status": statuses,
                    "actions": actions,
                },
                "logo": f"cdn/partners/{code}.png",
                "description": f"{mp['name']} (sandbox)",
                "homepage": None,
            }
        return jsonify(out)

    # -- Letzshop --------------------------------------------------------------------

    @app.post("/graphql")
    def graphql():
        sb = _sandbox()
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != sb.letzshop_token:
            sb.count("token_rejections")
            return graphql_error(401, "Unauthorized: invalid or missing token", "UNAUTHENTICATED")
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return graphql_error(400, "Expected a JSON body with a query", "BAD_REQUEST")
        query = body["query"]
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return graphql_error(400, "variables must be an object", "BAD_REQUEST")
        if not LETZSHOP_ORDERS_RE.search(query):
            return graphql_error(
                400, "The sandbox only answers the orders query", "GRAPHQL_VALIDATION_FAILED"
            )
        try:
            first = variables.get("first")
            if first is None:
                match = FIRST_RE.search(query)
                first = int(match.group(1)) if match else 100
            if isinstance(first, bool) or not isinstance(first, int) or first < 1:
                raise ValueError("first must be a positive integer")
            first = min(first, 100)
            after = variables.get("after")
            if after is None:
                match = AFTER_RE.search(query)
                after = match.group(1) if match else None
            offset = _uncursor(after) + 1 if after else 0
            since = variables.get("since")
            since_ts = parse_date(since) if since else None
            statuses = variables.get("status")
            if statuses is not None:
                if isinstance(statuses, str):
                    statuses = [statuses]
                bad = [s for s in statuses if s not in LETZSHOP_STATUSES]
                if bad:
                    raise ValueError(f"Value {bad[0]!r} is not a valid OrderStatus")
                statuses = set(statuses)
        except (ValueError, TypeError) as exc:
            return graphql_error(400, str(exc), "BAD_USER_INPUT")
        world = sb.world
        now = g.now
        with world.lock:
            selected = [
                o
                for o in world.channels[LETZSHOP]
                if (since_ts is None or o.updated >= since_ts)
                and (statuses is None or o.letzshop_status() in statuses)
            ]
            selected.sort(key=lambda o: (o.updated, o.seq))
            chunk = selected[offset : offset + first]
            edges = b",".join(
                b'{"cursor":"%s","node":%s}' % (_cursor(offset + i).encode(), o.letzshop_json())
                for i, o in enumerate(chunk)
            )
            total = len(selected)
        has_next = offset + len(chunk) < total
        end = json.dumps(_cursor(offset + len(chunk) - 1) if chunk else None).encode()
        out = (
            b'{"data":{"orders":{"edges":[%s],"pageInfo":{"hasNextPage":%s,"endCursor":%s},'
            b'"totalCount":%d}}}' % (edges, b"true" if has_next else b"false", end, total)
        )
        sb.count("pages_served")
        if sb.faults.get("move_on_page") == offset // first + 1 and chunk:
            world.move(LETZSHOP, chunk, now)
            sb.count("moved")
        return json_bytes(out)

    # -- control ---------------------------------------------------------------------

    @app.get("/_sandbox/state")
    def state():
        with_ids = request.args.get("ids", "1").lower() not in ("0", "false", "no")
        sb = _sandbox()
        sb.world.tick(sb.now())
        return jsonify(sb.state(with_ids=with_ids))

    @app.route("/_sandbox/faults", methods=["GET", "POST", "PUT", "DELETE"])
    def faults():
        sb = _sandbox()
        if request.method == "DELETE":
            with sb.lock:
                sb.faults = {}
        elif request.method in ("POST", "PUT"):
            spec = request.get_json(silent=True)
            if not isinstance(spec, dict):
                return lengow_error(400, "expected a JSON object")
            spec = dict(spec)
            try:
                with sb.lock:
                    base = {} if spec.pop("clear", False) or request.method == "PUT" else sb.faults
                    presets = spec.pop("presets", None)
                    if presets is not None:
                        base = {**base, **parse_faults(presets)}
                    sb.faults = normalize_faults(spec, base)
            except FaultError as exc:
                return lengow_error(400, str(exc))
        return jsonify({"faults": sb.faults})

    @app.post("/_sandbox/advance")
    def advance():
        sb = _sandbox()
        raw = request.args.get("seconds")
        if raw is None:
            raw = (request.get_json(silent=True) or {}).get("seconds")
        try:
            seconds = float(raw)
        except (TypeError, ValueError):
            return lengow_error(400, "seconds is required (a number)")
        if seconds < 0:
            return lengow_error(400, "time only moves forward")
        before = dict(sb.world.events)
        with sb.lock:
            now = sb.clock.advance(seconds)
        sb.world.tick(now)
        after = sb.world.events
        return jsonify(
            {
                "now": iso(now),
                "now_ts": now,
                "arrived": after["arrived"] - before["arrived"],
                "transitions": after["transitions"] - before["transitions"],
            }
        )

    @app.post("/_sandbox/orders")
    def add_orders():
        sb = _sandbox()
        data = request.get_json(silent=True) or {}
        channel = data.get("account", sb.accounts[0]["id"])
        if channel != LETZSHOP:
            try:
                channel = int(channel)
            except (TypeError, ValueError):
                return lengow_error(400, "account must be an account id or 'letzshop'")
        if channel not in sb.world.channels:
            return lengow_error(404, f"unknown account {channel}")
        count = data.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100000:
            return lengow_error(400, "count must be an integer from 1 to 100000")
        now = sb.now()
        sb.world.tick(now)
        made = sb.world.add_orders(channel, count, now)
        return jsonify({"added": [o.ext_id for o in made]}), 201

    @app.post("/_sandbox/tokens/expire")
    def expire_tokens():
        sb = _sandbox()
        now = sb.now()
        with sb.lock:
            for info in sb.tokens.values():
                info["expires"] = min(info["expires"], now)
            n = len(sb.tokens)
        return jsonify({"expired": n})

    @app.post("/_sandbox/reset")
    def reset():
        sb = _sandbox()
        sb.reset()
        return jsonify(sb.state(with_ids=False))

    return app


__all__ = ["FaultError", "Sandbox", "create_sandbox_app", "normalize_faults", "parse_faults"]

"""The sandbox app: one small Flask app serving every fake marketplace of ``sandbox.fakes``.

``create_sandbox_app(config)`` builds a separate Flask app with no database, Redis or
secrets, and registers each fake's blueprint (:func:`sandbox.fake.discover`). State lives in
memory (``app.extensions["sandbox"]``); the fault switches apply to every fake, answered in
the shape of the fake that owns the path; ``/_sandbox/*`` lets tests and demos drive time,
switch faults on and off and read what the server holds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox.data import LETZSHOP, WORKFLOW_RANK, Clock, World, iso
from sandbox.fake import Fake, current, discover, json_bytes

DEFAULT_ACCOUNTS = (5622, 6395, 17220)
DEFAULT_LETZSHOP_TOKEN = "sandbox-letzshop-token"  # noqa: S105 (a fake server's public demo token)

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
    # A Lengow order action stays queued this many sandbox seconds (None: SANDBOX_STEP_SECONDS)
    # and for this many reads of GET /v3.0/orders/actions/ that show it; then it is processed.
    "SANDBOX_ACTION_SECONDS": None,
    "SANDBOX_ACTION_POLLS": 0,
}

# -- faults ----------------------------------------------------------------------------

PRESETS = {
    "429": {"rate_limit": {"every": 10, "retry_after": 1}},
    "500": {"server_error": {"every": 13, "status": 500}},
    "slow": {"slow": {"seconds": 0.5, "every": 4}},
    "expire": {"token_ttl": 60},
    "move": {"move_on_page": 2},
    # Lengow order actions (each applies to the next `times` actions POSTed):
    "timeout": {"action_timeout": {"seconds": 2, "times": 1}},  # taken, the answer never comes
    "action_error": {"action_error": {"times": 1}},  # processed by the marketplace with an error
    "stuck": {"action_stuck": {"polls": 1, "times": 1}},  # still queued at the next poll
}
ACTION_FAULTS = ("action_timeout", "action_error", "action_stuck")
DEFAULT_ACTION_ERROR = "The marketplace refused the action: tracking number already used"
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
        if (
            key
            not in ("rate_limit", "server_error", "slow", "token_ttl", "move_on_page")
            + ACTION_FAULTS
        ):
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
        elif key in ACTION_FAULTS:
            if not isinstance(value, dict):
                raise FaultError(f"{key} must be an object")
            fault = {"times": _number(value.get("times", 1), f"{key}.times", 1, True)}
            if key == "action_timeout":
                fault["seconds"] = _number(value.get("seconds", 2), f"{key}.seconds", 0)
            elif key == "action_error":
                message = value.get("message", DEFAULT_ACTION_ERROR)
                if not isinstance(message, str) or not message:
                    raise FaultError("action_error.message must be a text")
                fault["message"] = message
            else:
                fault["polls"] = _number(value.get("polls", 1), f"{key}.polls", 1, True)
            faults[key] = fault
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

    def __init__(self, config: dict, fakes: Iterable[Fake] = ()):
        self.config = config
        self.fakes = tuple(fakes)
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
                "actions_created": 0,  # POST /v3.0/orders/actions/ that made an action
                "actions_timed_out": 0,  # of which the answer was held past the client
                "letzshop_confirmed": 0,  # orders whose units confirmInventoryUnits accepted
                "letzshop_declined": 0,  # ... declined
                "letzshop_shipped": 0,  # updateOrderFulfillment that shipped an order
                "letzshop_units_confirmed": 0,  # inventory units confirmed available
                "letzshop_units_declined": 0,  # ... declined (confirmed unavailable)
                "letzshop_units_shipped": 0,  # units shipped one by one
            }
            # Filtered, sorted order lists by (account, query without page), reused while the
            # world's version holds: reading page after page costs a slice, not a sort.
            self.selections: dict[tuple, tuple[int, list]] = {}

    def now(self) -> float:
        return self.clock.now()

    def take_fault(self, name: str) -> dict | None:
        """The fault ``name`` for one more action, counting it down (None when off)."""
        with self.lock:
            fault = self.faults.get(name)
            if not fault:
                return None
            left = fault["times"] - 1
            faults = dict(self.faults)
            if left <= 0:
                faults.pop(name)
            else:
                faults[name] = {**fault, "times": left}
            self.faults = faults
            return fault

    def warm(self) -> None:
        """Serialise every order once, so the first reads are as fast as the next ones."""
        for fake in self.fakes:
            if fake.warm is not None:
                fake.warm(self)

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counters[name] += n

    def state(self, with_ids: bool = True) -> dict:
        summary = self.world.summary()
        now = self.now()
        with self.lock:
            state = {
                "now": iso(now),
                "now_ts": now,
                "seed": int(self.config["SANDBOX_SEED"]),
                "faults": self.faults,
                "counters": dict(self.counters),
                "events": dict(self.world.events),
                "tokens": len(self.tokens),
            }
        for fake in self.fakes:
            state.update(fake.state(self, summary, with_ids))
        return state


# -- app -------------------------------------------------------------------------------


def control_error(status: int, message: str):
    """The control endpoints' error shape (Lengow's, as it always was)."""
    body = json.dumps({"error": {"code": status, "message": message}}).encode()
    return json_bytes(body, status)


def create_sandbox_app(config: dict | None = None, fakes: Iterable[Fake] | None = None) -> Flask:
    """The sandbox serving ``fakes`` (default: every fake of ``sandbox.fakes``)."""
    app = Flask("mercato_sandbox")
    app.config.update(DEFAULTS)
    if config:
        app.config.update(config)
    app.json.sort_keys = False
    fakes = tuple(discover() if fakes is None else fakes)
    sandbox = Sandbox(app.config, fakes)
    app.extensions["sandbox"] = sandbox
    for fake in fakes:
        app.register_blueprint(fake.blueprint)

    def owner(path: str) -> Fake | None:
        return next((fake for fake in fakes if fake.owns(path)), None)

    def error(path: str, status: int, kind: str | None, message: str, code: str, headers=None):
        fake = owner(path)
        if fake is None:
            return control_error(status, message)
        if kind is not None:
            message, code = fake.fault_messages.get(kind, (message, code))
        return fake.error(status, message, code, headers)

    @app.before_request
    def _faults_and_time():
        path = request.path
        if path.startswith("/_sandbox") or path == "/":
            return None
        sb = current()
        with sb.lock:
            sb.request_no += 1
            n = sb.request_no
            sb.counters["requests"] += 1
            faults = sb.faults
        limit = faults.get("rate_limit")
        if limit and n % limit["every"] == 0:
            sb.count("rate_limited")
            headers = {"Retry-After": str(int(limit["retry_after"]))}
            return error(path, 429, "rate_limit", "Too many requests", "RATE_LIMITED", headers)
        failure = faults.get("server_error")
        if failure and n % failure["every"] == 0:
            sb.count("server_errors")
            return error(path, failure["status"], "server_error", "Technical error", "INTERNAL")
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
        return error(request.path, code, None, exc.description or exc.name, exc.name.upper())

    @app.get("/")
    def index():
        sb = current()
        body = {"sandbox": "Mercato fake marketplaces"}
        for fake in fakes:
            body[fake.code] = fake.index(sb)
        body["control"] = [
            "GET /_sandbox/state",
            "GET|POST|DELETE /_sandbox/faults",
            "POST /_sandbox/advance?seconds=N",
            "POST /_sandbox/orders",
            "POST /_sandbox/tokens/expire",
            "POST /_sandbox/reset",
        ]
        return jsonify(body)

    # -- control ---------------------------------------------------------------------

    @app.get("/_sandbox/state")
    def state():
        with_ids = request.args.get("ids", "1").lower() not in ("0", "false", "no")
        sb = current()
        sb.world.tick(sb.now())
        return jsonify(sb.state(with_ids=with_ids))

    @app.route("/_sandbox/faults", methods=["GET", "POST", "PUT", "DELETE"])
    def faults():
        sb = current()
        if request.method == "DELETE":
            with sb.lock:
                sb.faults = {}
        elif request.method in ("POST", "PUT"):
            spec = request.get_json(silent=True)
            if not isinstance(spec, dict):
                return control_error(400, "expected a JSON object")
            spec = dict(spec)
            try:
                with sb.lock:
                    base = {} if spec.pop("clear", False) or request.method == "PUT" else sb.faults
                    presets = spec.pop("presets", None)
                    if presets is not None:
                        base = {**base, **parse_faults(presets)}
                    sb.faults = normalize_faults(spec, base)
            except FaultError as exc:
                return control_error(400, str(exc))
        return jsonify({"faults": sb.faults})

    @app.post("/_sandbox/advance")
    def advance():
        sb = current()
        raw = request.args.get("seconds")
        if raw is None:
            raw = (request.get_json(silent=True) or {}).get("seconds")
        try:
            seconds = float(raw)
        except (TypeError, ValueError):
            return control_error(400, "seconds is required (a number)")
        if seconds < 0:
            return control_error(400, "time only moves forward")
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
        sb = current()
        data = request.get_json(silent=True) or {}
        channel = data.get("account", sb.accounts[0]["id"])
        if channel != LETZSHOP:
            try:
                channel = int(channel)
            except (TypeError, ValueError):
                return control_error(400, "account must be an account id or 'letzshop'")
        if channel not in sb.world.channels:
            return control_error(404, f"unknown account {channel}")
        count = data.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100000:
            return control_error(400, "count must be an integer from 1 to 100000")
        lines = data.get("lines")
        if lines is not None and (
            not isinstance(lines, list)
            or not lines
            or not all(isinstance(x, dict) and isinstance(x.get("sku"), str) for x in lines)
            or not all(
                isinstance(x.get("qty", 1), int) and 1 <= x.get("qty", 1) <= 100 for x in lines
            )
        ):
            return control_error(400, "lines must be a list of {sku, title, qty 1-100, unit}")
        status = data.get("status")
        if status is not None and status not in WORKFLOW_RANK:
            return control_error(400, f"status must be one of {', '.join(WORKFLOW_RANK)}")
        now = sb.now()
        sb.world.tick(now)
        made = sb.world.add_orders(channel, count, now, lines=lines, status=status)
        return jsonify({"added": [o.ext_id for o in made]}), 201

    @app.post("/_sandbox/tokens/expire")
    def expire_tokens():
        sb = current()
        now = sb.now()
        with sb.lock:
            for info in sb.tokens.values():
                info["expires"] = min(info["expires"], now)
            n = len(sb.tokens)
        return jsonify({"expired": n})

    @app.post("/_sandbox/reset")
    def reset():
        sb = current()
        sb.reset()
        return jsonify(sb.state(with_ids=False))

    return app


__all__ = [
    "DEFAULT_ACTION_ERROR",
    "FaultError",
    "Sandbox",
    "create_sandbox_app",
    "normalize_faults",
    "parse_faults",
]

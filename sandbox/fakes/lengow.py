"""The Lengow API v3 fake: tokens, orders, merchant order ids, actions, marketplaces.

Its orders are the shared world's (``sandbox.data``), one channel per Lengow account id; its
accounts and their credentials come from ``SANDBOX_ACCOUNTS``.
"""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlencode

from flask import Blueprint, g, jsonify, request

from sandbox.data import ACTIONS, MARKETPLACES, Order, iso, parse_date
from sandbox.fake import Fake, current, json_bytes

TOKEN_LIFETIME = 3600  # seconds, as documented; expire_at always announces this
MAX_PAGE_SIZE = 100
DEFAULT_WINDOW = 7 * 86400  # marketplace_order_date_from defaults to now - 7 days

bp = Blueprint("lengow", __name__)


def lengow_error(status: int, message: str, code: str = "", headers=None):
    body = json.dumps({"error": {"code": status, "message": message}}).encode()
    return json_bytes(body, status, headers)


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


def _selection(sb, account_id: int, now: float) -> list[Order]:
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


def lengow_account():
    """The account id of the request's token, or an error response."""
    sb = current()
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


@bp.post("/access/get_token")
def get_token():
    sb = current()
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


@bp.get("/v3.0/orders/", strict_slashes=False)
def list_orders():
    sb = current()
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


@bp.patch("/v3.0/orders/moi/", strict_slashes=False)
def set_merchant_order_id():
    sb = current()
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


# -- order actions ------------------------------------------------------------------------
#
# An action POSTed stays queued for SANDBOX_ACTION_SECONDS (default: the lifecycle step) and
# for SANDBOX_ACTION_POLLS reads of the actions list that show it; then it is processed, or it
# fails with the marketplace's error (fault ``action_error``: queued false, processed false,
# ``errors`` the text). Fault ``action_stuck`` keeps it queued for more reads; fault
# ``action_timeout`` creates it and holds the answer past the client's timeout.

CANCEL_REASONS = {
    "NoInventory": "No inventory",
    "BuyerCanceled": "Buyer canceled",
    "ShippingAddressUndeliverable": "Shipping address undeliverable",
}
REFUND_REASONS = {
    "ProductOutofStock": "Product out of stock",
    "CustomerReturn": "Customer return",
    "PriceError": "Price Error",
}
OTHER_CARRIER = "Other"


def _arg(kind="string", valid=None, default=None, free=True, depends_on=None) -> dict:
    return {
        "type": kind,
        "depends_on": depends_on,
        "valid_values": {k: {"label": v} for k, v in (valid or {}).items()},
        "default_value": default,
        "accept_free_values": free,
    }


def action_rules(mp: dict) -> dict:
    """The ``orders.actions`` of one sandbox marketplace, in the 2024 payloads' shape
    (``depends_on`` spelled ``operation``, as the real ones are)."""
    carriers = {**mp["carriers"], OTHER_CARRIER: "Other"}
    line = _arg("line_number")
    declared = {
        "accept": ([], {"line": line}),
        "refuse": ([], {"line": line}),
        "ship": (
            ["carrier", "tracking_number"],
            {
                "carrier_name": _arg(
                    depends_on={
                        "operation": "allOf",
                        "conditions": [
                            {
                                "key_path": {"root": "action_data", "path": "carrier"},
                                "function": "equals",
                                "value": OTHER_CARRIER,
                            }
                        ],
                    }
                ),
                "tracking_url": _arg(),
                # optional and a date, as in the real amazon_fr payload (2024)
                "shipping_date": _arg("date"),
                "line": line,
            },
        ),
        "cancel": (
            [],
            {"line": line, "reason": _arg("list", CANCEL_REASONS, free=False)},
        ),
        "refund": (
            [],
            {
                "line": line,
                "refund_reason": _arg(
                    "list", REFUND_REASONS, default="ProductOutofStock", free=False
                ),
                "refund_price": _arg("price"),
            },
        ),
    }
    required_desc = {
        "carrier": _arg("list", carriers, default=""),
        "tracking_number": _arg(),
    }
    out = {}
    for name, (allowed, _to) in ACTIONS.items():
        required, optional = declared[name]
        out[name] = {
            "status": list(allowed),
            "args": list(required),
            "optional_args": list(optional),
            "args_description": {
                **{arg: required_desc[arg] for arg in required},
                **optional,
            },
        }
    return out


def _action_problem(rules: dict, data: dict) -> str | None:
    """What the sandbox marketplace refuses in an action's arguments (None: nothing)."""
    described = rules["args_description"]
    for arg in rules["args"]:
        if data.get(arg) in (None, ""):
            return f"{arg} is required for {data['action_type']}"
    for arg, desc in described.items():
        depends = desc.get("depends_on")
        if depends:
            holds = all(
                str(data.get(c["key_path"]["path"])) == str(c["value"])
                for c in depends["conditions"]
            )
            if holds and data.get(arg) in (None, ""):
                return f"{arg} is required when " + " and ".join(
                    f"{c['key_path']['path']} is {c['value']}" for c in depends["conditions"]
                )
        value = data.get(arg)
        if value not in (None, "") and not desc["accept_free_values"]:
            if str(value) not in desc["valid_values"]:
                return f"{arg}: {value!r} is not a valid value ({', '.join(desc['valid_values'])})"
    return None


def _action_settings(sb) -> tuple[float, int]:
    seconds = sb.config.get("SANDBOX_ACTION_SECONDS")
    if seconds is None:
        seconds = sb.world.step_seconds
    return float(seconds), int(sb.config.get("SANDBOX_ACTION_POLLS") or 0)


def action_view(action: dict, now: float, seconds: float, polls: int, read: bool) -> dict:
    """The action as the API shows it now; ``read``: this view counts as one poll."""
    if action["queued"]:
        if read:
            action["_polls"] += 1
        due = now - action["_created"] >= seconds
        if due and action["_polls"] >= polls + action["_stuck"]:
            action["queued"] = False
            if action["_error"]:
                action["processed"] = False
                action["errors"] = action["_error"]
            else:
                action["processed"] = True
            action["_updated"] = max(now, action["_created"])
            action["updated_at"] = iso(action["_updated"])
    return {k: v for k, v in action.items() if not k.startswith("_")}


ACTION_FILTERS = (
    "id",
    "marketplace",
    "marketplace_order_id",
    "action_type",
    "line",
    "tracking_number",
    "carrier",
)
ACTION_DATES = {"updated": "_updated", "created": "_created"}


@bp.get("/v3.0/orders/actions/", strict_slashes=False)
def list_actions():
    sb = current()
    token_account, error = lengow_account()
    if error:
        return error
    account_id, error = account_param(token_account)
    if error:
        return error
    try:
        page = int(request.args.get("page", 1))
        page_size = min(int(request.args.get("page_size", MAX_PAGE_SIZE)), MAX_PAGE_SIZE)
    except ValueError:
        return lengow_error(400, "page and page_size must be integers")
    if page < 1 or page_size < 1:
        return lengow_error(400, "page and page_size must be positive")
    filters = {k: request.args[k] for k in ACTION_FILTERS if k in request.args}
    flags = {
        k: request.args[k].lower() in ("1", "true")
        for k in ("processed", "queued")
        if k in request.args
    }
    bounds = []
    for prefix, attr in ACTION_DATES.items():
        for suffix, lower in (("_from", True), ("_to", False)):
            raw = request.args.get(prefix + suffix)
            if raw is None:
                continue
            try:
                bounds.append((attr, parse_date(raw), lower))
            except ValueError:
                return lengow_error(400, f"{prefix + suffix}: invalid date {raw!r}")
    seconds, polls = _action_settings(sb)
    world = sb.world
    start = (page - 1) * page_size
    with world.lock:
        rows = []
        for action in world.actions:
            if action["account_id"] != account_id:
                continue
            if any(str(action[k]) != v for k, v in filters.items()):
                continue
            view = action_view(action, g.now, seconds, polls, read=page == 1)
            if any(view[k] != v for k, v in flags.items()):
                continue
            if any((action[a] < b) if lower else (action[a] > b) for a, b, lower in bounds):
                continue
            rows.append(view)
    count = len(rows)
    if page > 1 and start >= count:
        return lengow_error(404, "Invalid page.")
    chunk = rows[start : start + page_size]
    next_url = _page_url(page + 1) if start + page_size < count else b"null"
    prev_url = _page_url(page - 1) if page > 1 else b"null"
    body = b'{"count":%d,"next":%s,"previous":%s,"results":%s}' % (
        count,
        next_url,
        prev_url,
        json.dumps(chunk).encode(),
    )
    return json_bytes(body)


@bp.post("/v3.0/orders/actions/", strict_slashes=False)
def create_action():
    sb = current()
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
        rules = action_rules(MARKETPLACES[order.marketplace])[action_type]
        problem = _action_problem(rules, data)
        if problem:
            return lengow_error(400, problem)
        line_ids = [f"{order.ext_id}-{i}" for i in range(1, len(order.spec["lines"]) + 1)]
        line = data.get("line")
        if line not in (None, "") and str(line) not in line_ids:
            return lengow_error(400, f"line {line!r} is not a line of this order")
        failure = sb.take_fault("action_error")
        stuck = sb.take_fault("action_stuck")
        held = sb.take_fault("action_timeout")
        whole = True
        if action_type == "ship" and line not in (None, ""):
            shipped = world.shipped_lines.setdefault(
                (account_id, order.marketplace, order.ext_id), set()
            )
            shipped.add(str(line))
            whole = shipped >= set(line_ids)
        if failure is None and whole:
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
            "line": None if line in (None, "") else str(line),
            "created_at": iso(now),
            "updated_at": iso(now),
            "errors": "",
            "_created": now,
            "_updated": now,
            "_polls": 0,
            "_stuck": stuck["polls"] if stuck else 0,
            "_error": failure["message"] if failure else "",
        }
        world.actions.append(action)
        view = {k: v for k, v in action.items() if not k.startswith("_")}
    sb.count("actions_created")
    if held is not None:
        # The action is taken; the answer comes after the client has given up.
        sb.count("actions_timed_out")
        time.sleep(held["seconds"])
    return jsonify(view), 201


@bp.get("/v3.0/marketplaces", strict_slashes=False)
def marketplaces():
    sb = current()
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
        out[code] = {
            "package": f"mp_{code}",
            "country_iso_a2": mp["iso2"],
            "country": mp["country"],
            "name": mp["name"],
            "legacy_code": code,
            "orders": {
                "carriers": {k: {"label": v} for k, v in mp["carriers"].items()},
                "status": statuses,
                "actions": action_rules(mp),
            },
            "logo": f"cdn/partners/{code}.png",
            "description": f"{mp['name']} (sandbox)",
            "homepage": None,
        }
    return jsonify(out)


def _index(sb) -> dict:
    return {
        "token": "POST /access/get_token (form: access_token, secret)",
        "orders": "GET /v3.0/orders/?account_id=…",
        "merchant_order_id": "PATCH /v3.0/orders/moi/",
        "actions": "GET|POST /v3.0/orders/actions/",
        "marketplaces": "GET /v3.0/marketplaces",
        "accounts": [{k: a[k] for k in ("id", "access_token", "secret")} for a in sb.accounts],
    }


def _state(sb, summary: dict, with_ids: bool) -> dict:
    accounts = {}
    for account in sb.accounts:
        entry = summary[str(account["id"])]
        if not with_ids:
            entry.pop("ids")
        entry["access_token"] = account["access_token"]
        entry["secret"] = account["secret"]
        accounts[str(account["id"])] = entry
    return {"accounts": accounts}


def _banner(sb, base: str) -> list[str]:
    lines = [f"  Lengow:   {base}/access/get_token, {base}/v3.0/orders/"]
    for account in sb.accounts:
        lines.append(
            f"    account {account['id']}: access_token={account['access_token']} "
            f"secret={account['secret']}"
        )
    return lines


def _warm(sb) -> None:
    with sb.world.lock:
        for account in sb.accounts:
            for order in sb.world.channels[account["id"]]:
                order.lengow_json()


FAKE = Fake(
    code="lengow",
    blueprint=bp,
    prefixes=("/access/", "/v3.0/"),
    error=lengow_error,
    fault_messages={
        "rate_limit": ("Request limitation reached", ""),
        "server_error": ("Technical error", ""),
    },
    index=_index,
    state=_state,
    banner=_banner,
    warm=_warm,
)

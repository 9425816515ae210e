"""The sandbox's world: deterministic fake orders for Lengow accounts and a Letzshop shop.

Everything lives in memory. Orders are generated from a seed, kept sorted by
(order date, sequence number) and serialised once per change (cached JSON bytes), so a
page of 100 orders is a join of 100 cached byte strings.

Time is a ``Clock`` the tests drive (``advance``) or that follows the wall clock
(``realtime``). Every ``step_seconds`` of sandbox time some orders move along their
lifecycle and new ones arrive; ``World.tick(now)`` replays the steps that are due, so
the same seed and the same sequence of calls give the same data.
"""

from __future__ import annotations

import base64
import bisect
import json
import random
import threading
import time
import unicodedata
from datetime import UTC, datetime

# -- lifecycle -------------------------------------------------------------------------

# lengow_status -> [(next lengow_status, weight)]
TRANSITIONS: dict[str, list[tuple[str, float]]] = {
    "new": [("waiting_acceptance", 0.85), ("accepted", 0.15)],
    "waiting_acceptance": [("accepted", 0.85), ("refused", 0.05), ("canceled", 0.10)],
    "accepted": [("waiting_shipment", 0.95), ("canceled", 0.05)],
    "waiting_shipment": [("shipped", 0.93), ("canceled", 0.07)],
    "shipped": [("closed", 0.95), ("refunded", 0.05)],
}
TERMINAL = frozenset({"closed", "refused", "canceled", "refunded"})
WORKFLOW_RANK = {
    "new": 1,
    "waiting_acceptance": 2,
    "accepted": 3,
    "refused": 3,
    "waiting_shipment": 5,
    "shipped": 6,
    "closed": 7,
    "canceled": 7,
    "refunded": 8,
}
LETZSHOP_STATUS = {
    "new": "PENDING",
    "waiting_acceptance": "PENDING",
    "accepted": "PAID",
    "waiting_shipment": "PROCESSING",
    "shipped": "SHIPPED",
    "closed": "DELIVERED",
    "canceled": "CANCELLED",
    "refused": "CANCELLED",
    "refunded": "REFUNDED",
}
LETZSHOP_STATUSES = (
    "PENDING",
    "PAID",
    "PROCESSING",
    "SHIPPED",
    "DELIVERED",
    "CANCELLED",
    "REFUNDED",
)

# Lengow action -> (lengow statuses it is allowed from, status it leads to)
ACTIONS = {
    "accept": (("waiting_acceptance",), "accepted"),
    "refuse": (("waiting_acceptance",), "refused"),
    "ship": (("waiting_shipment",), "shipped"),
    "cancel": (("waiting_acceptance", "accepted", "waiting_shipment"), "canceled"),
    "refund": (("canceled", "shipped", "closed"), "refunded"),
}

CURRENCIES = {
    "EUR": {"iso_a3": "EUR", "symbol": "€", "name": "Euro"},
    "GBP": {"iso_a3": "GBP", "symbol": "£", "name": "British Pound"},
}

# style "modern": total_order/shipping as JSON numbers, tax/commission as strings (2019+ API);
# style "legacy": every amount a string or null (2016 payloads).
MARKETPLACES: dict[str, dict] = {
    "amazon_fr": {
        "name": "Amazon France",
        "country": "FRA",
        "iso2": "FR",
        "currency": "EUR",
        "style": "modern",
        "weight": 40,
        "payment": "Other: Standard",
        "status": {
            "new": "PendingAvailability",
            "waiting_acceptance": "Pending",
            "accepted": "Unconfirmed",
            "waiting_shipment": "Unshipped",
            "shipped": "Shipped",
            "closed": "InvoiceUnconfirmed",
            "canceled": "Canceled",
            "refused": "Refused",
            "refunded": "Refunded",
        },
        "carriers": {"Colissimo": "Colissimo", "Chronopost": "Chronopost", "UPS": "UPS"},
    },
    "amazon_uk": {
        "name": "Amazon UK",
        "country": "GBR",
        "iso2": "GB",
        "currency": "GBP",
        "style": "modern",
        "weight": 8,
        "payment": "Other: Standard",
        "status": {
            "new": "PendingAvailability",
            "waiting_acceptance": "Pending",
            "accepted": "Unconfirmed",
            "waiting_shipment": "Unshipped",
            "shipped": "Shipped",
            "closed": "InvoiceUnconfirmed",
            "canceled": "Canceled",
            "refused": "Refused",
            "refunded": "Refunded",
        },
        "carriers": {"Royal Mail": "Royal Mail", "DPD": "DPD"},
    },
    "cdiscount": {
        "name": "Cdiscount",
        "country": "FRA",
        "iso2": "FR",
        "currency": "EUR",
        "style": "legacy",
        "weight": 20,
        "payment": "CB",
        "status": {
            "new": "Filled",
            "waiting_acceptance": "WaitingForSellerAcceptation",
            "accepted": "AcceptedBySeller",
            "waiting_shipment": "WaitingForShipmentAcceptation",
            "shipped": "Shipped",
            "closed": "Received",
            "canceled": "CancelledByCustomer",
            "refused": "RefusedBySeller",
            "refunded": "RefundedBySeller",
        },
        "carriers": {"COL": "Colissimo", "CHR": "Chronopost", "MDR": "Mondial Relay"},
    },
    "manomano_fr": {
        "name": "ManoMano France",
        "country": "FRA",
        "iso2": "FR",
        "currency": "EUR",
        "style": "modern",
        "weight": 15,
        "payment": "manomano",
        "status": {
            "new": "WAITING_PAYMENT",
            "waiting_acceptance": "PENDING",
            "accepted": "REMORSE_PERIOD",
            "waiting_shipment": "PREPARATION",
            "shipped": "SHIPPED",
            "closed": "CLOSED",
            "canceled": "CANCELLED",
            "refused": "REFUSED",
            "refunded": "REFUNDED",
        },
        "carriers": {"colissimo": "Colissimo", "gls": "GLS", "dpd": "DPD"},
    },
    "galeries_lafayette": {
        "name": "Galeries Lafayette",
        "country": "FRA",
        "iso2": "FR",
        "currency": "EUR",
        "style": "legacy",
        "weight": 12,
        "payment": "paypal",
        "status": {
            "new": "STAGING",
            "waiting_acceptance": "WAITING_ACCEPTANCE",
            "accepted": "WAITING_DEBIT",
            "waiting_shipment": "SHIPPING",
            "shipped": "SHIPPED",
            "closed": "CLOSED",
            "canceled": "CANCELED",
            "refused": "REFUSED",
            "refunded": "REFUNDED",
        },
        "carriers": {"LAPOSTE": "La Poste", "CHRONOPOST": "Chronopost"},
    },
}
GBP_TO_EUR = 1.17

FIRST_NAMES = [
    "Camille", "Léa", "Lucas", "Hugo", "Chloé", "Manon", "Louis", "Emma", "Jules", "Inès",
    "Nathan", "Sarah", "Élodie", "Théo", "Zoé", "Gabriel", "Anaïs", "Paul", "Jeanne", "Yanis",
]  # fmt: skip
LAST_NAMES = [
    "MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY",
    "MOREAU", "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX",
]  # fmt: skip
CITIES = [
    ("75011", "PARIS"), ("69003", "LYON"), ("13008", "MARSEILLE"), ("31000", "TOULOUSE"),
    ("44000", "NANTES"), ("67000", "STRASBOURG"), ("33000", "BORDEAUX"), ("59000", "LILLE"),
    ("06220", "VALLAURIS"), ("38000", "GRENOBLE"), ("35000", "RENNES"), ("21000", "DIJON"),
]  # fmt: skip
UK_CITIES = [("SW1A 1AA", "London"), ("M1 1AE", "Manchester"), ("EH1 1YZ", "Edinburgh")]
LU_CITIES = [("L-1111", "Luxembourg"), ("L-4001", "Esch-sur-Alzette"), ("L-9001", "Ettelbruck")]
STREETS = [
    "rue de la Paix", "avenue Jean Jaurès", "boulevard Voltaire", "rue Victor Hugo",
    "allée des Tilleuls", "chemin du Moulin", "place de la République", "rue des Écoles",
]  # fmt: skip
PRODUCT_WORDS = [
    ("Perceuse visseuse 18V", "Outillage > Perceuses", 89.90),
    ("Top col montant écru", "Mode > Femme > Tops", 29.00),
    ("T-Shirt with Logo", "Tshirts", 18.00),
    ("Lampe de bureau LED", "Maison > Luminaires", 34.50),
    ("Casque audio Bluetooth", "High-Tech > Audio", 59.99),
    ("Tondeuse électrique 1400W", "Jardin > Tondeuses", 149.00),
    ("Jeu de 6 tournevis", "Outillage > Tournevis", 12.90),
    ("Sac à dos 30L", "Sport > Randonnée", 44.95),
    ("Cafetière à piston", "Cuisine > Café", 24.00),
    ("Coussin velours 45x45", "Maison > Déco", 15.50),
    ("Robot pâtissier", "Cuisine > Électroménager", 229.00),
    ("Chaussures de trail", "Sport > Running", 99.00),
]


def iso(ts: float | None, micro: bool = True) -> str | None:
    """Epoch seconds as Lengow writes dates: ``2019-03-22T17:54:34.369000Z``."""
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, UTC)
    if micro:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(value: str) -> float:
    """An ISO 8601 date or date-time (``Z``, offset or naive = UTC) as epoch seconds."""
    text = value.strip()
    if not text:
        raise ValueError("empty date")
    dt = datetime.fromisoformat(text.replace(" ", "T") if "T" not in text else text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def ascii_name(name: str) -> str:
    """``Théo`` -> ``theo`` (e-mail local parts stay ASCII)."""
    decomposed = unicodedata.normalize("NFKD", name)
    return decomposed.encode("ascii", "ignore").decode().lower()


def money(value: float) -> str:
    return f"{value:.2f}"


# -- clock -----------------------------------------------------------------------------


class Clock:
    """Sandbox time in epoch seconds: ``start`` + manual advances (+ wall time if realtime).

    ``source`` (a callable returning epoch seconds) replaces the start/realtime part, for
    tests that want to drive time from outside; ``advance`` still adds on top of it.
    """

    def __init__(self, start: float | None = None, realtime: bool = True, source=None):
        self.start = time.time() if start is None else float(start)
        self.realtime = realtime
        self.source = source
        self.offset = 0.0
        self._t0 = time.monotonic()

    def now(self) -> float:
        if self.source is not None:
            base = float(self.source())
        elif self.realtime:
            base = self.start + (time.monotonic() - self._t0)
        else:
            base = self.start
        return base + self.offset

    def advance(self, seconds: float) -> float:
        self.offset += float(seconds)
        return self.now()


# -- orders ----------------------------------------------------------------------------


class Order:
    """One order of one channel (a Lengow account or the Letzshop shop)."""

    __slots__ = (
        "channel",
        "seq",
        "marketplace",
        "ext_id",
        "created",
        "imported",
        "updated",
        "status",
        "moi",
        "spec",
        "trackings",
        "units",
        "_json",
    )

    def __init__(self, channel, seq, marketplace, ext_id, created, spec):
        self.channel = channel
        self.seq = seq
        self.marketplace = marketplace
        self.ext_id = ext_id
        self.created = created
        self.imported = created
        self.updated = created
        self.status = "new"
        self.moi = None
        self.spec = spec
        self.trackings: list[dict] = []
        # Letzshop inventory units answered one by one: unit id -> state (the others follow
        # the order's status, letzshop_unit_state).
        self.units: dict[str, str] = {}
        self._json: bytes | None = None

    def sort_key(self) -> tuple[float, int]:
        return (self.created, self.seq)

    def touch(self, now: float) -> None:
        self.updated = max(now, self.updated)
        self._json = None

    # Lengow ------------------------------------------------------------------------

    def mp_status(self) -> str:
        return MARKETPLACES[self.marketplace]["status"][self.status]

    def lengow_payload(self) -> dict:
        spec = self.spec
        mp = MARKETPLACES[self.marketplace]
        status = self.status
        mp_status = mp["status"][status]
        modern = mp["style"] == "modern"
        original = mp["currency"]
        rate = GBP_TO_EUR if original == "GBP" else 1.0

        lines = []
        total = 0.0
        tax_total = 0.0
        for i, line in enumerate(spec["lines"], start=1):
            line_status = "canceled" if line.get("canceled") else status
            line_amount = line["unit"] * line["qty"]
            if line_status != "canceled":
                total += line_amount
                tax_total += line_amount / 6
            amount = round(line_amount * rate, 2)
            as_number = self.marketplace == "cdiscount"
            lines.append(
                {
                    "id": spec["line_base"] + i,
                    "marketplace_order_line_id": f"{self.ext_id}-{i}",
                    "marketplace_product_id": line["mp_product"],
                    "merchant_product_id": {"field": "ID_PRODUCT", "id": line["sku"]},
                    "feed_id": spec["feed_id"],
                    "marketplace_package_id": None,
                    "marketplace_status": mp["status"][line_status],
                    "lengow_status": line_status,
                    "title": line["title"],
                    "category": line["category"],
                    "url_product": None,
                    "url_image": None,
                    "order_line_meta": {} if modern else [],
                    "amount": amount if as_number else money(amount),
                    "tax": money(amount / 6) if modern else None,
                    "discount": None,
                    "shipping": None,
                    "refunded_amount": money(amount) if line_status == "refunded" else "0.00",
                    "original_amount": money(line_amount),
                    "original_tax": money(line_amount / 6) if modern else None,
                    "original_discount": None,
                    "original_shipping": None,
                    "original_refunded_amount": (
                        money(line_amount) if line_status == "refunded" else "0.00"
                    ),
                    "quantity": line["qty"],
                    "documents": [],
                    "orderline_types": [],
                    "max_shipping_date": iso(self.created + 3 * 86400),
                    "created_at": iso(self.created) if not modern else None,
                    "updated_at": iso(self.updated) if not modern else None,
                    "original_buyer_tax": None,
                    "original_buyer_amount": None,
                }
            )
        shipping = spec["shipping"]
        total_with_shipping = total + shipping  # floats on purpose: 809.2900000000001 happens
        converted = total_with_shipping * rate
        commission = -round(total * 0.15, 2)

        customer = spec["customer"]
        anonymized = spec["anonymized"]
        address = {
            "company": customer["company"],
            "civility": customer["civility"],
            "first_name": None if anonymized else customer["first_name"],
            "last_name": None if anonymized else customer["last_name"],
            "first_line": None if anonymized else customer["street"],
            "second_line": None,
            "complement": None,
            "zipcode": customer["zipcode"],
            "city": customer["city"],
            "phone_home": None,
            "phone_office": None,
            "phone_mobile": None if anonymized else customer["phone"],
            "full_address": None,
            "full_name": None,
            "email": None if anonymized else customer["email"],
            "metas": None,
            "state_region": None,
            "vat_number": None,
            "common_country_iso_a2": mp["iso2"],
        }
        # Amazon hides the address of orders that are not yet accepted: no package at all.
        hide_packages = self.marketplace.startswith("amazon") and status in (
            "new",
            "waiting_acceptance",
        )
        packages = []
        if not hide_packages:
            delivery = dict(address, id=spec["address_id"], type="delivery")
            delivery["trackings"] = list(self.trackings)
            packages.append({"cart": lines, "delivery": delivery})
        billing = dict(address, id=spec["address_id"] + 1, type="billing")

        # Galeries Lafayette sends new orders without an order date (see the real fixture).
        order_date = iso(self.created, micro=modern)
        if self.marketplace == "galeries_lafayette" and status == "new":
            order_date = None
        if modern:
            amounts = {
                "total_order": round(converted, 2) if rate != 1.0 else total_with_shipping,
                "total_tax": money(tax_total * rate),
                "shipping": round(shipping * rate, 2),
                "discount": 0,
                "commission": money(commission * rate),
                "processing_fee": None,
                "original_total_order": round(total_with_shipping, 2),
                "original_total_tax": money(tax_total),
                "original_shipping": shipping,
                "original_discount": 0,
                "original_commission": money(commission),
                "original_processing_fee": None,
            }
        else:
            amounts = {
                "total_order": money(total_with_shipping),
                "total_tax": None,
                "shipping": money(shipping) if shipping else None,
                "discount": None,
                "commission": money(-commission),
                "processing_fee": None,
                "original_total_order": money(total_with_shipping),
                "original_total_tax": None,
                "original_shipping": money(shipping) if shipping else None,
                "original_discount": None,
                "original_commission": money(-commission),
                "original_processing_fee": None,
            }
        moi = self.moi
        if moi is None and not modern:
            moi = []
        payload = {
            "marketplace": self.marketplace,
            "account_id": self.channel,
            "marketplace_country_iso2": mp["iso2"],
            "marketplace_order_id": self.ext_id,
            "merchant_order_id": moi,
            "marketplace_status": mp_status,
            "lengow_status": status,
            "workflow_rank": WORKFLOW_RANK[status],
            "marketplace_order_date": order_date,
            "marketplace_customer_id": None,
            **{k: amounts[k] for k in ("total_order", "total_tax", "shipping", "discount")},
            "commission": amounts["commission"],
            "processing_fee": amounts["processing_fee"],
            "currency": CURRENCIES["EUR"],
            "original_currency": CURRENCIES[original],
            **{k: v for k, v in amounts.items() if k.startswith("original_")},
            "comments": spec["comments"],
            "invoice_number": None,
            "invoice_url": None,
            "payments": [
                {
                    "id": spec["payment_id"],
                    "checkout": None,
                    "status": None,
                    "type": mp["payment"],
                    "settled_at": None,
                    "payment_terms": None,
                    "channel_order_marketplace": spec["payment_id"] // 3,
                }
            ],
            "packages": packages,
            "billing_address": billing,
            "contact_address": None,
            "documents": [],
            "imported_at": iso(self.imported),
            "updated_at": iso(self.updated),
            "order_meta": {"checksum": spec["checksum"]} if modern else None,
            "anonymized": anonymized,
            "order_types": (
                [{"type": "is_delivered_by_marketplace", "label": "AFN"}] if spec["afn"] else []
            ),
            "original_total_buyer_amount": None,
            "original_total_buyer_tax": None,
            "original_buyer_currency": None,
        }
        return payload

    def lengow_json(self) -> bytes:
        if self._json is None:
            self._json = json.dumps(self.lengow_payload(), ensure_ascii=False).encode()
        return self._json

    # Letzshop ----------------------------------------------------------------------

    def letzshop_payload(self) -> dict:
        spec = self.spec
        customer = spec["customer"]
        items = []
        subtotal = 0.0
        for number, line in enumerate(spec["lines"], 1):
            line_total = round(line["unit"] * line["qty"], 2)
            subtotal += line_total
            item_id = f"{self.ext_id}-{number}"
            units = None
            if self.status != "new":  # not paid yet: nothing offered to the seller
                units = [
                    {"id": unit, "state": self.units.get(unit, self.letzshop_unit_state())}
                    for unit in (f"{item_id}-{k}" for k in range(1, int(line["qty"]) + 1))
                ]
            items.append(
                {
                    "id": item_id,
                    "inventoryUnits": units,
                    "product": {
                        "id": line["mp_product"],
                        "sku": line["sku"],
                        "name": line["title"],
                    },
                    "quantity": line["qty"],
                    "unitPrice": line["unit"],
                    "totalPrice": line_total,
                }
            )
        shipping = spec["shipping"]
        subtotal = round(subtotal, 2)
        return {
            "id": base64.b64encode(f"Order:{self.seq}".encode()).decode(),
            "orderNumber": self.ext_id,
            "status": self.letzshop_status(),
            "createdAt": iso(self.created, micro=False),
            "updatedAt": iso(self.updated),
            "customer": {
                "email": customer["email"],
                "firstName": customer["first_name"],
                "lastName": customer["last_name"].title(),
                "phone": customer["phone"],
            },
            "shippingAddress": {
                "street": customer["street"],
                "city": customer["city"],
                "postalCode": customer["zipcode"],
                "country": "LU",
            },
            "items": items,
            "totals": {
                "subtotal": subtotal,
                "shipping": shipping,
                "tax": round(subtotal * 17 / 117, 2),
                "total": round(subtotal + shipping, 2),
                "currency": "EUR",
            },
        }

    def letzshop_status(self) -> str:
        return LETZSHOP_STATUS[self.status]

    def letzshop_unit_state(self) -> str:
        """The state of a unit not answered on its own, by the order's status."""
        if self.status in ("new", "waiting_acceptance"):
            return "unconfirmed"
        if self.status in ("refused", "canceled"):
            return "confirmed_unavailable"
        return "confirmed_available"

    def letzshop_unit_ids(self) -> list[list[str]]:
        """Each line's inventory unit ids (a unit per piece)."""
        return [
            [f"{self.ext_id}-{n}-{k}" for k in range(1, int(line["qty"]) + 1)]
            for n, line in enumerate(self.spec["lines"], 1)
        ]

    def letzshop_json(self) -> bytes:
        if self._json is None:
            self._json = json.dumps(self.letzshop_payload(), ensure_ascii=False).encode()
        return self._json


LETZSHOP = "letzshop"


class World:
    """All channels' orders plus the seeded randomness that evolves them."""

    def __init__(
        self,
        seed: int,
        accounts: list[int],
        orders_per_channel: int,
        now: float,
        history_days: float = 5.0,
        step_seconds: float = 15.0,
        letzshop: bool = True,
    ):
        self.rng = random.Random(seed)  # noqa: S311 (fake data, not security)
        self.seed = seed
        self.accounts = list(accounts)
        self.step_seconds = float(step_seconds)
        self.lock = threading.RLock()
        self.channels: dict[object, list[Order]] = {}
        self.active: dict[object, list[Order]] = {}
        self.by_ext: dict[object, dict[tuple[str, str], Order]] = {}
        self.marketplaces: dict[object, list[str]] = {}
        self.seq = 0
        # Bumped by every change a listing can see (an arrival, a status move, a merchant
        # order id): the server reuses a filtered, sorted selection while it holds.
        self.version = 0
        self.events = {"arrived": 0, "transitions": 0, "moved": 0}
        self.actions: list[dict] = []
        # (channel, marketplace, order id) -> line ids shipped by line-level ship actions
        self.shipped_lines: dict[tuple, set[str]] = {}
        channels: list[object] = list(self.accounts) + ([LETZSHOP] if letzshop else [])
        for channel in channels:
            self.channels[channel] = []
            self.active[channel] = []
            self.by_ext[channel] = {}
            if channel == LETZSHOP:
                self.marketplaces[channel] = ["letzshop"]
            else:
                names = sorted(MARKETPLACES)
                picked = self.rng.sample(names, k=self.rng.randint(3, len(names)))
                if "amazon_fr" not in picked:
                    picked.append("amazon_fr")
                self.marketplaces[channel] = sorted(picked)
        span = history_days * 86400.0
        for channel in channels:
            created_times = sorted(
                now - self.rng.random() * span for _ in range(orders_per_channel)
            )
            for created in created_times:
                order = self._new_order(channel, created)
                self._age(order, now)
                self._insert(order)
        self.next_step = now + self.step_seconds
        self.last_now = now

    # generation ----------------------------------------------------------------------

    def _pick_marketplace(self, channel) -> str:
        if channel == LETZSHOP:
            return "letzshop"
        names = self.marketplaces[channel]
        weights = [MARKETPLACES[n]["weight"] for n in names]
        return self.rng.choices(names, weights)[0]

    def _ext_id(self, marketplace: str, seq: int, created: float) -> str:
        rng = self.rng
        stamp = datetime.fromtimestamp(created, UTC)
        if marketplace.startswith("amazon"):
            return f"{rng.randint(402, 408)}-{rng.randint(1000000, 9999999)}-{seq:07d}"
        if marketplace == "cdiscount":
            return f"{stamp:%y%m%d%H%M}{seq:05d}"
        if marketplace == "manomano_fr":
            return f"M{stamp:%y%m%d}{seq:07d}"
        if marketplace == "galeries_lafayette":
            return f"{1300435600000 + seq * 7}-A"
        return f"R{100000000 + seq * 13}"

    def _new_order(self, channel, created: float) -> Order:
        rng = self.rng
        self.seq += 1
        seq = self.seq
        marketplace = self._pick_marketplace(channel)
        if channel == LETZSHOP:
            zipcode, city = rng.choice(LU_CITIES)
        elif marketplace == "amazon_uk":
            zipcode, city = rng.choice(UK_CITIES)
        else:
            zipcode, city = rng.choice(CITIES)
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        lines = []
        for _ in range(rng.choices([1, 2, 3], [70, 22, 8])[0]):
            idx = rng.randrange(len(PRODUCT_WORDS))
            title, category, price = PRODUCT_WORDS[idx]
            variant = rng.randint(1, 40)
            lines.append(
                {
                    "sku": f"SKU-{idx:03d}-{variant:02d}",
                    "mp_product": f"{marketplace[:3].upper()}{idx:04d}{variant:03d}",
                    "title": f"{title} - {variant}",
                    "category": category,
                    "unit": price,
                    "qty": rng.choices([1, 2, 3], [80, 15, 5])[0],
                }
            )
        if len(lines) > 1 and rng.random() < 0.1:
            lines[-1]["canceled"] = True
        spec = {
            "lines": lines,
            "line_base": seq * 10,
            "feed_id": 1000 + len(marketplace),
            "address_id": seq * 2,
            "payment_id": seq,
            "shipping": rng.choice([0.0, 0.0, 4.3, 5.0, 6.9]),
            "comments": rng.choice([None, None, None, "Livrer après 18h", "Code porte 1234B"]),
            "checksum": f"{rng.getrandbits(128):032x}",
            "afn": marketplace.startswith("amazon") and rng.random() < 0.15,
            "anonymized": False,
            "customer": {
                "first_name": first,
                "last_name": last,
                "civility": rng.choice(["M", "Mme", "Madame", None]),
                "company": rng.choice([None] * 9 + ["ACME SARL"]),
                "street": f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
                "zipcode": zipcode,
                "city": city,
                "phone": f"06{rng.randint(0, 99999999):08d}",
                "email": f"{ascii_name(first)[:3]}{seq}@example.{marketplace}.test",
            },
        }
        return Order(
            channel, seq, marketplace, self._ext_id(marketplace, seq, created), created, spec
        )

    def _insert(self, order: Order) -> None:
        self.version += 1
        orders = self.channels[order.channel]
        if orders and orders[-1].sort_key() > order.sort_key():
            bisect.insort(orders, order, key=Order.sort_key)
        else:
            orders.append(order)
        self.by_ext[order.channel][(order.marketplace, order.ext_id)] = order
        if order.status not in TERMINAL:
            self.active[order.channel].append(order)

    def _age(self, order: Order, now: float) -> None:
        """Walk a historical order through its lifecycle up to ``now``."""
        rng = self.rng
        t = order.created
        order.imported = min(now, t + rng.uniform(30, 600))
        order.updated = order.imported
        while order.status not in TERMINAL:
            t += rng.expovariate(1 / (6 * 3600))
            if t > now:
                break
            self._transition(order, max(t, order.updated))

    def _transition(self, order: Order, when: float, to: str | None = None) -> None:
        self.version += 1
        if to is None:
            choices = TRANSITIONS.get(order.status)
            if not choices:
                order.touch(when)
                return
            to = self.rng.choices([c[0] for c in choices], [c[1] for c in choices])[0]
        order.status = to
        if to == "shipped":
            carriers = list(
                MARKETPLACES.get(order.marketplace, {"carriers": {"DHL": "DHL"}})["carriers"]
            )
            order.trackings = [
                {
                    "number": f"6A{self.rng.randint(10**10, 10**11 - 1)}",
                    "method": None,
                    "carrier": self.rng.choice(carriers),
                    "url": None,
                    "is_delivered_by_marketplace": order.spec["afn"],
                    "parcel_weight": None,
                    "shipped_at": iso(when),
                    "relay": {"name": None, "id": None, "type": None},
                    "marketplace_order_line_ids": [
                        f"{order.ext_id}-{i}" for i in range(1, len(order.spec["lines"]) + 1)
                    ],
                }
            ]
        order.touch(when)
        self.events["transitions"] += 1

    # evolution -----------------------------------------------------------------------

    def tick(self, now: float, max_steps: int = 20000) -> None:
        """Replay every lifecycle step due by ``now`` (a long jump skips the excess)."""
        with self.lock:
            steps = 0
            while self.next_step <= now:
                if steps >= max_steps:
                    skipped = int((now - self.next_step) // self.step_seconds) + 1
                    self.next_step += skipped * self.step_seconds
                    break
                self._step(self.next_step)
                self.next_step += self.step_seconds
                steps += 1
            self.last_now = max(self.last_now, now)

    def _step(self, t: float) -> None:
        # Every change of this step is stamped ``t``: later than any "now" already served,
        # so a reader polling with updated_from = its last read time never misses one.
        rng = self.rng
        span = self.step_seconds
        for channel, active in self.active.items():
            for _ in range(2):
                if not active:
                    break
                i = rng.randrange(len(active))
                order = active[i]
                self._transition(order, t)
                if order.status in TERMINAL:
                    active[i] = active[-1]
                    active.pop()
            arrivals = rng.choices([0, 1, 2], [45, 40, 15])[0]
            for _ in range(arrivals):
                order = self._new_order(channel, t - rng.random() * span)
                order.imported = order.updated = t
                self._insert(order)
                self.events["arrived"] += 1

    def add_orders(
        self,
        channel,
        count: int,
        now: float,
        lines: list[dict] | None = None,
        status: str | None = None,
    ) -> list[Order]:
        """``count`` new orders; ``lines`` (``sku``, ``title``, ``qty``, ``unit``) replace the
        random lines (a demo's order for a given product), ``status`` the first status."""
        with self.lock:
            made = []
            for _ in range(count):
                order = self._new_order(channel, now)
                if lines:
                    marketplace = order.marketplace
                    order.spec["lines"] = [
                        {
                            "sku": line["sku"],
                            "mp_product": f"{marketplace[:3].upper()}{n:07d}",
                            "title": line.get("title") or line["sku"],
                            "category": line.get("category") or "Digital",
                            "unit": float(line.get("unit", 10.0)),
                            "qty": int(line.get("qty", 1)),
                        }
                        for n, line in enumerate(lines, 1)
                    ]
                if status:
                    order.status = status
                self._insert(order)
                made.append(order)
                self.events["arrived"] += 1
            return made

    def move(self, channel, page: list[Order], now: float) -> dict:
        """The "moves across a page boundary" fault, applied right after ``page`` was served.

        The first order of the page changes status (its ``updated_at`` jumps to now, so in an
        ``updated_at`` ordering it leaves the page and everything behind it slides back one
        place: the next page's first order lands on the page already read). And a late order
        arrives whose order date sorts just before the page (in the default ordering
        everything from there slides forward one place: the page's last order is served again
        on the next page, and the late order sits on a page already read).
        """
        with self.lock:
            if not page:
                return {}
            first = page[0]
            self._transition(first, now)
            if first.status in TERMINAL and first in self.active[channel]:
                self.active[channel].remove(first)
            late = self._new_order(channel, first.created - 0.001)
            late.imported = late.updated = now
            self._insert(late)
            self.events["moved"] += 1
            self.events["arrived"] += 1
            return {"updated": first.ext_id, "late": late.ext_id}

    def apply_action(self, order: Order, action: str, now: float) -> None:
        with self.lock:
            self._transition(order, now, to=ACTIONS[action][1])
            if order.status in TERMINAL and order in self.active[order.channel]:
                self.active[order.channel].remove(order)

    # reading -------------------------------------------------------------------------

    def find(self, channel, marketplace: str, ext_id: str) -> Order | None:
        return self.by_ext.get(channel, {}).get((marketplace, ext_id))

    def summary(self) -> dict:
        with self.lock:
            out = {}
            for channel, orders in self.channels.items():
                statuses: dict[str, int] = {}
                for order in orders:
                    statuses[order.status] = statuses.get(order.status, 0) + 1
                out[str(channel)] = {
                    "count": len(orders),
                    "statuses": statuses,
                    "marketplaces": self.marketplaces[channel],
                    "ids": [o.ext_id for o in orders],
                }
            return out

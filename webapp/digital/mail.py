"""The ``digital_keys`` e-mail: what it shows (built at send time, so no key is stored in a
message) and what its sending changes here.

- :func:`keys_context` (``@mail_kind``): exactly what the shipped template
  (``webapp/templates/mail/digital_keys.*``) reads - ``store_name``, ``order_reference``,
  ``customer_name`` and ``items`` (each ``title``, ``platform``, ``sku``, ``quantity`` and
  ``keys``, the keys as text, decrypted only now) - plus ``attachments``: a key the supplier
  delivered as an image is attached to the e-mail (its line's ``keys`` names the file);
- :func:`keys_preview` (``preview=``): the same with every key masked and nothing attached,
  what the pages show of a sent e-mail (the keys themselves are revealed only on the order's
  page, each reveal recorded);
- :func:`keys_sent` (``@on_sent``, called with the sent :class:`webapp.models.MailMessage`):
  the lines whose keys went are ``sent``; a fully digital order is then ``fulfilled`` with a
  status-history entry; a mixed one keeps its shipping flow.

The e-mail's language (:func:`order_language`): orders carry no language, so it is derived
from the channel's country suffix (``amazon_de`` -> de) or else the shipping address's
country; unknown (or a country whose language has no template): the store's default, which
the renderer falls back to.
"""

from __future__ import annotations

import mimetypes

from sqlalchemy import select, update

from webapp.digital.lines import with_keys
from webapp.extensions import db
from webapp.keys import codes
from webapp.mail import mail_kind, on_sent
from webapp.models import (
    DigitalKey,
    MarketplaceProduct,
    Order,
    OrderItem,
    OrderStatusHistory,
    Store,
)
from webapp.models import orders as O
from webapp.models.base import utcnow
from webapp.models.keys import IMAGE

KIND = "digital_keys"
ASSIGNED, SENT = "assigned", "sent"

# A country's (first) language, for the e-mail of an order shipped there / sold on a channel
# of that country. ISO 3166 alpha-2 (and "uk", as marketplaces write the United Kingdom).
COUNTRY_LANGUAGE = {
    "fr": "fr", "be": "fr", "lu": "fr", "mc": "fr", "ch": "fr",
    "de": "de", "at": "de", "li": "de",
    "es": "es", "mx": "es", "ar": "es", "it": "it", "pt": "pt", "br": "pt",
    "nl": "nl", "pl": "pl", "se": "sv", "dk": "da", "fi": "fi", "cz": "cs",
    "gb": "en", "uk": "en", "ie": "en", "us": "en", "ca": "en", "au": "en", "com": "en",
}  # fmt: skip

SAMPLE = {
    "store_name": "Demo store",
    "order_reference": "ORDER-1001",
    "customer_name": "Alex Martin",
    "items": [
        {
            "title": "Space Game",
            "platform": "Steam",
            "sku": "SPACE-GAME",
            "quantity": 1,
            "keys": ["AAAAA-BBBBB-CCCCC"],
            "images": [],
        },
        {
            "title": "Gift card 25 EUR",
            "platform": None,
            "sku": "GIFT-25",
            "quantity": 1,
            "keys": [],
            "images": ["gift-card-25.png"],
        },
    ],
}


def _order_id(subject) -> int:
    """The order a message is about: its id, or a message carrying ``subject_id``."""
    return int(getattr(subject, "subject_id", subject))


def order_language(order: Order) -> str | None:
    """The language to write to the order's customer in, where known (else None: the
    store's default)."""
    channel = (order.channel or "").lower()
    if "_" in channel:
        found = COUNTRY_LANGUAGE.get(channel.rsplit("_", 1)[1])
        if found:
            return found
    address = order.shipping_address if isinstance(order.shipping_address, dict) else {}
    for field in ("country_code", "country", "countryCode", "country_iso"):
        value = str(address.get(field) or "").strip().lower()
        if len(value) == 2 and value in COUNTRY_LANGUAGE:
            return COUNTRY_LANGUAGE[value]
    return None


def shown_key(key: DigitalKey) -> dict:
    if key.code_type == IMAGE:
        return {"type": "image", "filename": key.image_filename, "image": codes.open_image(key)}
    return {"type": "text", "code": codes.open_text(key)}


def _image_name(key: DigitalKey, index: int) -> str:
    return key.image_filename or f"key-{key.id or index}.png"


def _context(order_id: int, *, masked: bool) -> dict:
    order = db.session.get(Order, order_id)
    if order is None:
        raise LookupError(f"Order #{order_id} no longer exists.")
    store = db.session.get(Store, order.store_id)
    lines, keys = with_keys(order.id)
    products = {
        mp.id: mp
        for mp in db.session.scalars(
            select(MarketplaceProduct).where(
                MarketplaceProduct.id.in_(
                    [ln.marketplace_product_id for ln in lines if ln.marketplace_product_id]
                )
            )
        )
    }
    items, attachments = [], []
    for line in lines:
        product = products.get(line.marketplace_product_id)
        extra = (product.extra or {}) if product is not None else {}
        platform = str(extra.get("platform") or "").strip()
        shown, images = [], []
        for n, key in enumerate(keys.get(line.id, []), 1):
            if key.code_type == IMAGE:
                name = _image_name(key, n)
                images.append(name)
                if not masked:
                    mimetype = mimetypes.guess_type(name)[0] or "image/png"
                    attachments.append(
                        {"filename": name, "content": codes.open_image(key), "mimetype": mimetype}
                    )
            else:
                code = codes.open_text(key)
                shown.append(codes.masked(code) if masked else code)
        items.append(
            {
                "title": line.product_name or line.sku or line.supplier_product_id,
                "platform": platform if platform and platform.lower() != "none" else None,
                "sku": line.sku,
                "quantity": line.quantity,
                "keys": shown,
                "images": images,
            }
        )
    context = {
        "store_name": store.name if store is not None else "",
        "order_reference": order.channel_order_id,
        "customer_name": order.customer_name or "",
        "items": items,
    }
    if not masked:
        context["attachments"] = attachments
    return context


def keys_preview(subject) -> dict:
    """What a page shows of the keys e-mail: every key masked, nothing attached."""
    return _context(_order_id(subject), masked=True)


@mail_kind(KIND, label="Digital keys", sample=SAMPLE, preview=keys_preview, secret=True)
def keys_context(subject) -> dict:
    """The keys e-mail as it goes to the customer: the keys in clear, image keys attached."""
    return _context(_order_id(subject), masked=False)


@on_sent(KIND)
def keys_sent(subject, **_context) -> None:
    """The keys e-mail went: its lines are ``sent``; a fully digital order is fulfilled."""
    order = db.session.get(Order, _order_id(subject))
    if order is None:
        return
    now = utcnow()
    db.session.execute(
        update(OrderItem)
        .where(
            OrderItem.order_id == order.id,
            OrderItem.is_digital.is_(True),
            OrderItem.key_state == ASSIGNED,
        )
        .values(key_state=SENT)
        .execution_options(synchronize_session=False)
    )
    physical = db.session.scalar(
        select(OrderItem.id)
        .where(OrderItem.order_id == order.id, OrderItem.is_digital.is_(False))
        .limit(1)
    )
    unsent = db.session.scalar(
        select(OrderItem.id)
        .where(
            OrderItem.order_id == order.id,
            OrderItem.is_digital.is_(True),
            OrderItem.key_state != SENT,
        )
        .limit(1)
    )
    if physical is None and unsent is None and order.status != O.FULFILLED:
        db.session.add(
            OrderStatusHistory(
                order_id=order.id,
                from_status=order.status,
                to_status=O.FULFILLED,
                from_marketplace_status=order.marketplace_status,
                to_marketplace_status=order.marketplace_status,
                changed_by="digital_fulfilment",
                reason="Every key was e-mailed to the customer.",
                created_at=now,
            )
        )
        order.status = O.FULFILLED
        order.updated_at = now
    db.session.commit()

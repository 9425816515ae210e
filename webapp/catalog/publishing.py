"""Publishing a marketplace product to the store's catalog, with the store's overrides.

One set of rules for every way in (the publish form, the bulk publish, the API):

* a price is a finite, non-negative number with no more decimals than its currency has
  (two for most, none for JPY, three for KWD...) and at most 10 digits before the point
  (what ``numeric(14, 4)`` holds);
* the sale price, the store's own or else the imported one, is never above the price, the
  store's own or else the imported one (equal is allowed: no discount);
* availability is one of the catalog's values, or empty for "as imported";
* a published product has a price, its own or imported.

Bad input is refused with one sentence per field, and nothing is saved.  In a bulk publish a
refused product never stops the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from webapp.extensions import db
from webapp.ids import id_arg
from webapp.models import MarketplaceProduct, Product, Store
from webapp.orders import matching

AVAILABILITIES: dict[str, str] = {
    "in_stock": "in stock",
    "out_of_stock": "out of stock",
    "preorder": "pre-order",
    "backorder": "backorder",
}
# ISO 4217 minor units where they are not 2.
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),  # fmt: skip
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
MAX_PRICE = Decimal("9999999999")  # 10 digits before the point: numeric(14, 4)


class PublishError(ValueError):
    """The overrides are refused; ``errors`` maps a field to its sentence."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors


def minor_units(currency: str | None) -> int:
    return MINOR_UNITS.get((currency or "").upper(), 2)


def money(value: Decimal | None, currency: str | None = None) -> str:
    if value is None:
        return "—"
    places = minor_units(currency)
    text = f"{value:,.{places}f}"
    return f"{text} {currency}" if currency else text


def parse_price(text: str | None, label: str, currency: str | None) -> Decimal | None:
    """``text`` as typed (``12.50``, ``12,50``, `` 1299 ``) -> Decimal; empty -> None.
    Raises ValueError with the sentence to show."""
    raw = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    if not raw:
        return None
    if raw.count(",") == 1 and "." not in raw:
        raw = raw.replace(",", ".")  # a decimal comma, as typed in most of Europe
    if not all(c.isdigit() or c in ".-+" for c in raw):
        raise ValueError(f"Enter the {label} as a number, like 19.99.")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"Enter the {label} as a number, like 19.99.") from None
    return check_price(value, label, currency)


def check_price(value: Decimal | None, label: str, currency: str | None) -> Decimal | None:
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError(f"Enter the {label} as a number, like 19.99.")
    if value < 0:
        raise ValueError(f"The {label} cannot be negative.")
    if value > MAX_PRICE:
        raise ValueError(f"The {label} is too large: at most {money(MAX_PRICE)}.")
    places = minor_units(currency)
    if value != value.quantize(Decimal(1).scaleb(-places)):
        unit = f"in {currency.upper()}" if currency else "for a price"
        decimals = {0: "no decimals", 1: "at most 1 decimal"}.get(
            places, f"at most {places} decimals"
        )
        raise ValueError(f"The {label} has {decimals} {unit}.")
    return value


@dataclass
class Overrides:
    price: Decimal | None = None
    sale_price: Decimal | None = None
    availability: str | None = None
    is_active: bool = True


def check_overrides(source: MarketplaceProduct, overrides: Overrides) -> dict[str, str]:
    """Every refusal, by field (empty: the overrides are fine)."""
    errors: dict[str, str] = {}
    currency = source.currency
    for name, label in (("price", "price"), ("sale_price", "sale price")):
        try:
            check_price(getattr(overrides, name), label, currency)
        except ValueError as exc:
            errors[name] = str(exc)
    if overrides.availability and overrides.availability not in AVAILABILITIES:
        errors["availability"] = (
            "Choose the availability from the list: "
            + ", ".join(AVAILABILITIES.values())
            + ", or empty for the imported one."
        )
    if "price" in errors or "sale_price" in errors:
        return errors
    price = overrides.price if overrides.price is not None else source.price
    sale = overrides.sale_price if overrides.sale_price is not None else source.sale_price
    whose_price = "your price" if overrides.price is not None else "the imported price"
    if price is None:
        errors["price"] = "A published product needs a price: none was imported, enter yours."
    elif sale is not None and sale > price:
        if overrides.sale_price is not None:
            errors["sale_price"] = (
                f"The sale price ({money(sale, currency)}) cannot be above "
                f"{whose_price} ({money(price, currency)})."
            )
        else:
            errors["sale_price"] = (
                f"The imported sale price ({money(sale, currency)}) would be above "
                f"{whose_price} ({money(price, currency)}): enter a sale price, or a higher "
                "price."
            )
    return errors


def publication(store: Store, source: MarketplaceProduct) -> Product | None:
    return db.session.scalar(
        select(Product).where(
            Product.store_id == store.id, Product.marketplace_product_id == source.id
        )
    )


def publish(store: Store, source: MarketplaceProduct, overrides: Overrides) -> Product:
    """Publish (or update) ``source`` in ``store``'s catalog; committed.  Raises
    PublishError and saves nothing when an override is refused."""
    if source.store_id != store.id:
        raise PublishError({"product": "No such product in this store."})
    errors = check_overrides(source, overrides)
    if errors:
        raise PublishError(errors)
    product = publication(store, source)
    if product is None:
        product = Product(store_id=store.id, marketplace_product_id=source.id)
        db.session.add(product)
    product.price = overrides.price
    product.sale_price = overrides.sale_price
    product.availability = overrides.availability or None
    product.is_active = bool(overrides.is_active)
    db.session.commit()
    matching.after_publish(store.id, [source.id])  # order lines waiting for it
    return product


@dataclass
class BulkResult:
    published: list[str] = field(default_factory=list)  # marketplace product ids
    already: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # id -> why
    unknown: list[str] = field(default_factory=list)  # what was asked and is not ours

    def as_dict(self) -> dict:
        return {
            "published": self.published,
            "already_published": self.already,
            "refused": self.refused,
            "unknown": self.unknown,
        }


def publish_many(store: Store, ids: list[str]) -> BulkResult:
    """Publish the products with these ids (catalog row ids, as the list's checkboxes send
    them) as imported.  A product whose imported values break a rule is refused with its
    reason; the others are published all the same (one commit)."""
    result = BulkResult()
    published: list[int] = []
    wanted: list[int] = []
    for raw in ids:
        number = id_arg(str(raw))
        if number is not None and 0 < number:
            wanted.append(number)
        else:
            result.unknown.append(str(raw).strip()[:40])
    owned = {
        mp.id: mp
        for mp in db.session.scalars(
            select(MarketplaceProduct).where(
                MarketplaceProduct.store_id == store.id, MarketplaceProduct.id.in_(wanted)
            )
        )
    }
    result.unknown += [str(i) for i in wanted if i not in owned]
    already = set(
        db.session.scalars(
            select(Product.marketplace_product_id).where(
                Product.store_id == store.id, Product.marketplace_product_id.in_(list(owned))
            )
        )
    )
    for mp_id in sorted(owned):
        source = owned[mp_id]
        if mp_id in already:
            result.already.append(source.marketplace_product_id)
            continue
        errors = check_overrides(source, Overrides())
        if errors:
            result.refused[source.marketplace_product_id] = " ".join(errors.values())
            continue
        db.session.add(Product(store_id=store.id, marketplace_product_id=mp_id))
        result.published.append(source.marketplace_product_id)
        published.append(mp_id)
    db.session.commit()
    matching.after_publish(store.id, published)  # order lines waiting for them
    return result

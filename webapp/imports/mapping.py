"""Map a feed's column names onto Mercato's canonical product fields.

Headers are compared in a folded form (case, accents kept, ``g:`` prefix,
spacing, punctuation and parenthesised hints such as ``(x,y,z...)`` removed),
so ``g:Price``, ``PRICE_PRODUCT``, ``Price tax excluded`` and ``preis`` all
find their field.  Columns that map to nothing are kept as extra attributes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# Canonical field -> folded header names, best first.  The first header of the
# file that matches a name earlier in the list wins.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": (
        "id",
        "idproduct",
        "productid",
        "itemid",
        "offerid",
        "productcode",
        "articleid",
        "sku",
        "variantsku",
        "reference",
        "ref",
        "referencecode",
        "artikelnummer",
        "artikelnr",
        "articlenumber",
        "itemnumber",
        "productnumber",
        "code",
        "handle",
    ),
    "title": (
        "title",
        "nameproduct",
        "productname",
        "name",
        "producttitle",
        "itemname",
        "titel",
        "bezeichnung",
        "artikelname",
        "designation",
        "libelle",
        "nom",
        "kurzbez",
        "kurzbezeichnung",
    ),
    "description": (
        "description",
        "productdescription",
        "longdescription",
        "bodyhtml",
        "body",
        "beschreibung",
        "langtext",
        "shortdescription",
        "descriptif",
    ),
    "price": (
        "price",
        "priceproduct",
        "regularprice",
        "variantprice",
        "pricetaxincluded",
        "pricettc",
        "prixventettc",
        "prix",
        "preis",
        "verkaufspreis",
        "pricetaxexcluded",
        "prixventeht",
        "unitprice",
        "retailprice",
    ),
    "sale_price": (
        "saleprice",
        "pricereduction",
        "specialprice",
        "discountprice",
        "promoprice",
        "prixpromo",
        "angebotspreis",
    ),
    "currency": ("currency", "währung", "wahrung", "devise", "pricecurrency"),
    "availability": (
        "availability",
        "stockstatus",
        "instock",
        "disponibilite",
        "verfügbarkeit",
        "verfugbarkeit",
        "lieferstatus",
    ),
    "quantity": (
        "quantity",
        "qty",
        "stock",
        "stockquantity",
        "variantinventoryqty",
        "inventory",
        "bestand",
        "lagerbestand",
        "menge",
    ),
    "gtin": ("gtin", "ean", "ean13", "barcode", "variantbarcode", "upc", "isbn", "gtin13"),
    "mpn": ("mpn", "manufacturerpartnumber", "herstellernummer"),
    "brand": ("brand", "manufacturer", "vendor", "marke", "hersteller", "marque"),
    "condition": ("condition", "zustand", "etat"),
    "link": ("link", "urlproduct", "producturl", "url", "productlink", "deeplink"),
    "image_link": (
        "imagelink",
        "imageproduct",
        "imageurl",
        "image",
        "imgurl",
        "imglink",
        "imagesrc",
        "bildurl",
        "mainimage",
        "baseimage",
        "images",
    ),
    "item_group_id": (
        "itemgroupid",
        "parentid",
        "parent",
        "parentsku",
        "groupid",
        "parentreference",
    ),
}

FIELDS = tuple(SYNONYMS)


def fold(header: str) -> str:
    """The comparable form of a header: ``' g:Image Link (URL) *'`` -> ``'imagelink'``."""
    text = unicodedata.normalize("NFC", header).strip().lower()
    if text.startswith("g:"):
        text = text[2:]
    text = re.sub(r"\([^)]*\)", "", text)  # "Categories (x,y,z...)" -> "categories"
    return "".join(ch for ch in text if ch.isalnum())


@dataclass
class ColumnMap:
    """Where each canonical field sits in a record, and which columns are extra."""

    headers: list[str]
    index: dict[str, int] = field(default_factory=dict)
    extra: list[tuple[int, str]] = field(default_factory=list)

    @property
    def has_id(self) -> bool:
        return "id" in self.index

    def describe(self) -> str:
        return ", ".join(f"{name}<-{self.headers[i]!r}" for name, i in self.index.items())


def map_columns(headers: list[str]) -> ColumnMap:
    folded = [fold(h) for h in headers]
    cmap = ColumnMap(headers=list(headers))
    taken: set[int] = set()
    for name, synonyms in SYNONYMS.items():
        for synonym in synonyms:
            candidates = [i for i, f in enumerate(folded) if f == synonym and i not in taken]
            if candidates:
                cmap.index[name] = candidates[0]
                taken.add(candidates[0])
                break
    cmap.extra = [
        (i, h.strip()) for i, h in enumerate(headers) if i not in taken and h.strip() != ""
    ]
    return cmap


def header_score(cells: list[str]) -> int:
    """How much a row looks like a header: the number of canonical fields it names."""
    cmap = map_columns(cells)
    return len(cmap.index) + (2 if cmap.has_id else 0)

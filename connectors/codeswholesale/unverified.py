"""What Mercato assumes about CodesWholesale without a primary source, in one place.

Each constant below is a point ../shared/CONNECTORS.md section 8 tags [C] (seen in the
community v3 SDK, not a contract) or [U] (unverified), or does not cover at all.  They are
gathered here so that each can be corrected against the real API in one edit; the modules
that use them (:mod:`.auth`, :mod:`.products`, :mod:`.connector`) import them from here.
"""

from __future__ import annotations

__all__ = [
    "BALANCE_TOO_LOW",
    "DEFAULT_CURRENCY",
    "GONE_FROM_PRICE_LIST",
    "HISTORY_DAYS_AROUND",
    "HISTORY_ITEMS_KEY",
    "OUT_OF_STOCK",
    "PRE_ORDER_STATUSES",
    "PURCHASE_RETRY_DELAYS",
    "TOKEN_FIELDS_IN_QUERY",
    "TOKEN_LIFETIME_DEFAULT",
    "V3_CODE_TYPES",
    "V3_CONTINUATION_PARAM",
    "V3_CONTINUATION_KEY",
]

# -- token (POST {base}/oauth/token) ------------------------------------------------------------

# v2 (the official SDK) sends the client-credentials grant as a form; the v3 community SDK
# sends ``grant_type, client_id, client_secret`` as query parameters of the POST. [C]
TOKEN_FIELDS_IN_QUERY = {"v2": False, "v3": True}
# When a token answer states no lifetime at all (neither ``expires_in`` nor ``expiresIn``
# nor ``expiration``), it is kept this long. [U]
TOKEN_LIFETIME_DEFAULT = 3600

# -- catalogue ---------------------------------------------------------------------------------

# v3: ``GET /v3/products`` answers ``{items, continuationToken?}``; the next page sends the
# token back under the same name and nothing else of the first query. [C]
V3_CONTINUATION_KEY = "continuationToken"
V3_CONTINUATION_PARAM = "continuationToken"
# Prices carry no currency: it presumably follows the account.  The account's setting
# ``currency`` says which; this is its default. [U]
DEFAULT_CURRENCY = "EUR"

# -- codes -------------------------------------------------------------------------------------

# v3 names the code types ``codeType``: CODE_TEXT | CODE_IMAGE | PRE_ORDER (v3 SDK). [C]
V3_CODE_TYPES = {"CODE_TEXT": "text", "CODE_IMAGE": "image", "PRE_ORDER": "pre_order"}
# v2 ``status`` values [V] ("Text code", "Image code", "Pre-ordered code") and spellings seen
# in client code for the pre-order one. [U]
PRE_ORDER_STATUSES = frozenset({"pre-ordered code", "pre-order", "preorder", "pre_order"})

# -- order history (GET /vN/orders?startFrom=YYYY-MM-DD&endOn=YYYY-MM-DD) -------------------

# The list's key: the SDK reads history as ``items`` like the catalogue. [U]
HISTORY_ITEMS_KEY = "items"
# A purchase whose answer was lost is looked for from this many days before the day it was
# sent to this many after (the supplier's day may not be ours: time zones). [U]
HISTORY_DAYS_AROUND = 1

# -- error codes (``{status, code, message}``) ---------------------------------------------------

# [V] documented: 10002 balance too low (400), 20001 product not in the price list (404);
# 310003 "Cannot complete, too low stock." (400, even when the catalogue showed stock).
OUT_OF_STOCK = 310003
BALANCE_TOO_LOW = 10002
GONE_FROM_PRICE_LIST = 20001
# How long to wait before trying a purchase again after each of those, attempt by attempt
# (then a person looks): no published guidance. [U]
PURCHASE_RETRY_DELAYS = (60, 300, 900, 3600)

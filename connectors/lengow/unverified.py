"""What Mercato assumes about Lengow without a primary source, in one place.

Each constant below is a point ../shared/CONNECTORS.md section 1 tags [C] (seen in client code
or recorded payloads, not a contract) or [U] (unverified), or does not cover at all. They are
gathered here so that each can be corrected against the real API in one edit; the modules that
use them (:mod:`.rules`, :mod:`.actions`) import them from here.
"""

from __future__ import annotations

__all__ = [
    "ANY_STATUS_WHEN_EMPTY",
    "DEFAULT_OPERATOR",
    "DEFAULTS_FOR_REQUIRED_ONLY",
    "DEPENDS_ON_OPERATOR_KEYS",
    "LEGACY_ACCEPT_FREE_VALUES",
    "NOT_QUEUED_NOT_PROCESSED",
    "UNKNOWN_FUNCTION_HOLDS",
]

# -- marketplace rules (GET /v3.0/marketplaces) -----------------------------------------------

# The docs name the depends_on key ``operator``; the real 2024 amazon_fr payload says
# ``operation`` (CONNECTORS.md "Known traps"). Both are read, in this order.
DEPENDS_ON_OPERATOR_KEYS = ("operator", "operation")
# With no operator given, every condition must hold. [U]
DEFAULT_OPERATOR = "allOf"
# A condition whose function Mercato does not know is taken to hold, so the argument it guards
# is asked for rather than silently left out. [U]
UNKNOWN_FUNCTION_HOLDS = True
# An action whose ``status`` list is empty (amazon_fr's buy_shipment_label and
# set_eligible_shipping_methods): read literally, offered in no order status. [U]
ANY_STATUS_WHEN_EMPTY = False
# 2016 payloads give ``orders.carriers`` but no ``args_description``: whether Lengow refuses a
# carrier outside that list is unknown; Mercato lets it through and the marketplace decides. [U]
LEGACY_ACCEPT_FREE_VALUES = True
# A ``default_value`` fills only a required argument left empty; optional ones are sent only
# when given (the plugin avoids sending Amazon's imported defaults such as shipping_method,
# CONNECTORS.md "Known traps"). [C]
DEFAULTS_FOR_REQUIRED_ONLY = True

# -- action states (GET /v3.0/orders/actions/) ------------------------------------------------

# ``queued: false, processed: false, errors: ""``: the plugin reads it as "waiting for the
# marketplace to answer", not final (CONNECTORS.md "Action status", [C]). Mercato: "sent".
NOT_QUEUED_NOT_PROCESSED = "sent"

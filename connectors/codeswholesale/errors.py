"""CodesWholesale's error codes, graded.

Its errors are ``{status, code, message, developerMessage?, moreInfo?}`` (or the OAuth form
``{error, error_description}``).  Three refusals of a purchase pass with time and are worth
retrying with backoff (then a person looks): too low stock (310003, even when the catalogue
showed stock), balance too low (10002), product gone from the price list (20001).  Anything
else refused stays a :class:`~connectors.errors.RequestRejected` (a person must look).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from connectors.codeswholesale.unverified import (
    BALANCE_TOO_LOW,
    GONE_FROM_PRICE_LIST,
    OUT_OF_STOCK,
    PURCHASE_RETRY_DELAYS,
)
from connectors.errors import ConnectorError, RetryableError

__all__ = [
    "BalanceTooLow",
    "GoneFromPriceList",
    "OutOfStock",
    "SupplierRefusal",
    "grade",
]


class SupplierRefusal(RetryableError):
    """A purchase the supplier refused for now.  ``code``: its error code; ``said``: its own
    words; ``retry_delays``: seconds to wait before each further attempt (then it is an
    error for a person); ``reason``: Mercato's word for it."""

    reason: ClassVar[str] = "refused"
    retry_delays: ClassVar[tuple[int, ...]] = PURCHASE_RETRY_DELAYS

    def __init__(self, message: str, *, status_code: int | None, code: int, said: str) -> None:
        super().__init__(message, status_code=status_code)
        self.code = code
        self.said = said

    def delay_before(self, attempt: int) -> int | None:
        """Seconds to wait before retry number ``attempt`` (1-based); None: no more retries."""
        if attempt < 1 or attempt > len(self.retry_delays):
            return None
        return self.retry_delays[attempt - 1]


class OutOfStock(SupplierRefusal):
    reason = "out_of_stock"


class BalanceTooLow(SupplierRefusal):
    reason = "balance_too_low"


class GoneFromPriceList(SupplierRefusal):
    reason = "gone_from_price_list"


GRADED: dict[int, type[SupplierRefusal]] = {
    OUT_OF_STOCK: OutOfStock,
    BALANCE_TOO_LOW: BalanceTooLow,
    GONE_FROM_PRICE_LIST: GoneFromPriceList,
}


def error_code(body: bytes | str | None) -> tuple[int | None, str]:
    """(the ``code`` of an error body, its ``message``); (None, "") when it has none."""
    if not body:
        return None, ""
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return None, ""
    if not isinstance(payload, dict):
        return None, ""
    code = payload.get("code")
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code)
    message = payload.get("message") or payload.get("error_description") or ""
    return (code if isinstance(code, int) and not isinstance(code, bool) else None), str(message)


def grade(status: int, body: bytes, _content_type: str, what: str) -> ConnectorError | None:
    """The :data:`connectors.http.ErrorHook` of CodesWholesale: the refusals worth a retry
    as their classes; None (a plain RequestRejected) for the rest."""
    code, said = error_code(body)
    cls = GRADED.get(code) if code is not None else None
    if cls is None:
        return None
    return cls(f"{what} (CodesWholesale code {code})", status_code=status, code=code, said=said)

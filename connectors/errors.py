"""What can go wrong when a connector talks to a marketplace, as classes a job can act on.

Every class carries a ``severity`` that maps onto a run Message (see DOMAIN.md): ``"retry"``
means "try again later, it may well work" (rate limits, 5xx, timeouts once the HTTP layer's own
retries are spent); ``"error"`` means a person has to look (bad credentials, a request the
marketplace refuses). Jobs catch :class:`ConnectorError` and record ``str(exc)`` and
``exc.severity``; nothing else is needed.

Messages are written for a merchant and never carry a secret: URLs go through :func:`safe_url`
(password masked, credential-looking query values replaced) and the HTTP layer passes every text
through :func:`redact` with the account's secrets and tokens before it builds an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from connectors.egress import mask_url

__all__ = [
    "AuthError",
    "ConnectorError",
    "DestinationRefused",
    "RateLimited",
    "RequestRejected",
    "RetryableError",
    "marketplace_message",
    "redact",
    "safe_url",
]

MASK = "***"
MAX_MESSAGE_CHARS = 300

# Query parameters whose value is a credential in some marketplace API or other.
SENSITIVE_PARAMS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "client_secret",
        "key",
        "password",
        "secret",
        "signature",
        "token",
    }
)

# A secret shorter than this is not searched for in texts: replacing every "ab" in a message
# would make it unreadable and protects nothing that matters.
_MIN_REDACTED_LENGTH = 4


class ConnectorError(Exception):
    """A marketplace call failed. ``severity`` is "retry" or "error"; ``status_code`` is the HTTP
    status when the marketplace answered with one."""

    severity = "error"

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class RetryableError(ConnectorError):
    """429, 5xx, a timeout or a broken connection, still failing after the HTTP layer's retries:
    worth another go later. ``outcome_unknown``: the request had left and may have been
    applied (a read timeout or a 5xx after a call that is not idempotent), so sending it again
    blindly could apply it twice."""

    severity = "retry"

    def __init__(
        self, message: str, *, status_code: int | None = None, outcome_unknown: bool = False
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.outcome_unknown = outcome_unknown


class RateLimited(RetryableError):
    """The marketplace kept answering 429. ``retry_after`` is its last Retry-After in seconds
    (None when it sent none), so a job can schedule the next attempt sensibly."""

    def __init__(
        self, message: str, *, status_code: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """Credentials refused (401 after one renewal, or 403): a person must fix the account."""


class RequestRejected(ConnectorError):
    """The marketplace refused the request itself (a 4xx other than 401/403/408/429); the message
    is the marketplace's own, so the merchant sees what it said. Retrying would not help."""


class DestinationRefused(ConnectorError):
    """The outbound guard would not let the request go (the base URL or a next link points at an
    internal address, or a next link leaves the marketplace's host). Chained to the
    :class:`~connectors.egress.OutboundRefused` when there is one."""


def safe_url(url: str) -> str:
    """``url`` fit for a log line or a message: password masked (:func:`mask_url`) and the value
    of every credential-looking query parameter (``access_token``, ``secret``, ``token`` ...)
    replaced by ``***``. Never raises."""
    masked = mask_url(url)
    try:
        parts = urlsplit(masked)
    except ValueError:
        return masked
    if not parts.query:
        return masked
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(key.lower() in SENSITIVE_PARAMS for key, _ in pairs):
        return masked
    cleaned = [(key, MASK if key.lower() in SENSITIVE_PARAMS else value) for key, value in pairs]
    return urlunsplit(parts._replace(query=urlencode(cleaned, safe="*")))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***`` (longest first, so a
    secret that contains another is hidden whole)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= _MIN_REDACTED_LENGTH:
            text = text.replace(secret, MASK)
    return text


def _truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _message_from_json(payload: Any) -> str | None:
    """The human sentence in the usual error shapes: {"error": {"message"}}, {"error": "..."},
    {"detail"}, {"message"}, {"errors": [{"message"}]} (GraphQL) or a bare string."""
    if isinstance(payload, str):
        return payload
    if isinstance(payload, list) and payload:
        return _message_from_json(payload[0])
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, dict):
        found = _message_from_json(error)
        if found:
            return found
    elif isinstance(error, str) and error:
        return error
    for key in ("detail", "message", "error_description", "errors"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list | dict) and value:
            found = _message_from_json(value)
            if found:
                return found
    return None


def marketplace_message(body: str | bytes | None, content_type: str | None = None) -> str:
    """What the marketplace said in an error body, as one truncated line ('' when nothing).
    JSON is searched for its message; anything else (plain text, HTML) is used as it is."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    stripped = body.strip()
    if not stripped:
        return ""
    if stripped[0] in '{["' or "json" in (content_type or "").lower():
        try:
            payload = json.loads(stripped)
        except ValueError:
            payload = None
        if payload is not None:
            found = _message_from_json(payload)
            return _truncate(found if found else stripped)
    if "html" in (content_type or "").lower() or stripped.lower().startswith("<!doctype"):
        stripped = re.sub(r"<[^>]+>", " ", stripped)
    return _truncate(stripped)

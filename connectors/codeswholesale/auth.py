"""CodesWholesale's token provider: OAuth2 client credentials traded for a bearer token.

``POST {base}/oauth/token`` with ``grant_type=client_credentials``, ``client_id`` and
``client_secret`` (a form for v2; query parameters for v3, :mod:`.unverified`).  The answer
comes in one of two shapes (CONNECTORS.md section 8, [C]): ``{access_token, token_type,
expires_in}`` or ``{value, tokenType, expiresIn, expiration, expired}``; both are read.  No
refresh token: a new one is fetched when the cached one expires or after a 401.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.codeswholesale.unverified import TOKEN_FIELDS_IN_QUERY, TOKEN_LIFETIME_DEFAULT
from connectors.errors import AuthError
from connectors.http import ConnectorHttp

__all__ = ["CodesWholesaleTokenProvider", "normalize_token"]

logger = logging.getLogger("mercato.connectors")

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _expiry_seconds(payload: Mapping[str, Any], wall_now: float) -> float:
    """Seconds the token lives: ``expires_in``/``expiresIn`` (seconds), else ``expiration``
    (an ISO time or epoch seconds/milliseconds), else the default; 0 when ``expired``."""
    if payload.get("expired") is True:
        return 0.0
    for key in ("expires_in", "expiresIn"):
        seconds = _number(payload.get(key))
        if seconds is not None:
            return max(0.0, seconds)
    expiration = payload.get("expiration")
    when = _number(expiration)
    if when is not None:
        when = when / 1000 if when > 1e11 else when  # milliseconds
        return max(0.0, when - wall_now)
    if isinstance(expiration, str) and expiration.strip():
        try:
            parsed = datetime.fromisoformat(expiration.strip().replace("Z", "+00:00"))
        except ValueError:
            return float(TOKEN_LIFETIME_DEFAULT)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return max(0.0, parsed.timestamp() - wall_now)
    return float(TOKEN_LIFETIME_DEFAULT)


def normalize_token(payload: Any, wall_now: float | None = None) -> tuple[str, float]:
    """(token, seconds it lives) from either token shape; AuthError when there is none."""
    if not isinstance(payload, Mapping):
        raise AuthError("CodesWholesale did not return a token for these client credentials")
    token = payload.get("access_token") or payload.get("value")
    if not isinstance(token, str) or not token.strip():
        raise AuthError("CodesWholesale did not return a token for these client credentials")
    now = time.time() if wall_now is None else wall_now
    return token.strip(), _expiry_seconds(payload, now)


class CodesWholesaleTokenProvider:
    """A bearer token from the client id and secret, cached until ``lifetime - margin``
    seconds on ``clock`` (monotonic by default, injectable for tests), renewed after a 401."""

    renewable = True

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        api_version: str = "v2",
        margin: float = 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("CodesWholesale needs both a client id and a client secret")
        self._client_id = client_id
        self._client_secret = client_secret
        self.in_query = TOKEN_FIELDS_IN_QUERY.get(api_version, False)
        self.margin = margin
        self.clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._issued: list[str] = []
        self.renewals = 0  # tokens fetched so far (for logs and tests)

    def auth_headers(self, http: ConnectorHttp) -> dict[str, str]:
        if self._token is None or self.clock() >= self._expires_at:
            self._fetch(http)
        assert self._token is not None  # noqa: S101 - _fetch sets it or raises
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        self._token = None
        self._expires_at = 0.0

    def secret_values(self) -> tuple[str, ...]:
        return (self._client_secret, *self._issued)

    def _fetch(self, http: ConnectorHttp) -> None:
        fields = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        payload = http.request(
            "POST",
            TOKEN_PATH,
            params=fields if self.in_query else None,
            data=None if self.in_query else fields,
            auth=False,
            idempotent=True,  # asking for a token changes nothing
        )
        token, lifetime = normalize_token(payload)
        self._issued.append(token)
        self._token = token
        # A token that lives less than the margin is used once rather than never.
        self._expires_at = self.clock() + max(lifetime - self.margin, min(lifetime, 1.0))
        self.renewals += 1
        logger.info("connector_token_issued provider=codeswholesale valid_s=%d", lifetime)

    def __repr__(self) -> str:
        return (
            f"CodesWholesaleTokenProvider(client_id={self._client_id!r}, client_secret='********')"
        )

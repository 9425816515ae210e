"""Lengow's token provider: an access token and a secret traded for an hour-long token.

It lived in connectors/http.py beside the generic bearer provider; it is Lengow knowledge
(the path, the form fields, the lifetime, the raw ``Authorization`` header), so it lives here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from connectors.errors import AuthError
from connectors.http import ConnectorHttp

__all__ = ["LengowTokenProvider"]

logger = logging.getLogger("mercato.connectors")


class LengowTokenProvider:
    """Lengow API v3: ``POST {base}/access/get_token`` with the form fields ``access_token`` and
    ``secret`` answers ``{"token", "account_id"}``; the token lives 3600 s and is sent as the raw
    ``Authorization`` header. Cached until ``lifetime - margin`` seconds have passed on ``clock``
    (monotonic by default, injectable for tests), renewed on demand after a 401."""

    renewable = True

    def __init__(
        self,
        access_token: str,
        secret: str,
        *,
        path: str = "/access/get_token",
        lifetime: float = 3600,
        margin: float = 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not access_token or not secret:
            raise ValueError("Lengow needs both an access token and a secret")
        self._access_token = access_token
        self._secret = secret
        self.path = path
        self.lifetime = lifetime
        self.margin = margin
        self.clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._issued: list[str] = []
        self.account_id: int | None = None
        self.renewals = 0  # tokens fetched so far (for logs and tests)

    def auth_headers(self, http: ConnectorHttp) -> dict[str, str]:
        if self._token is None or self.clock() >= self._expires_at:
            self._fetch(http)
        assert self._token is not None  # noqa: S101 - _fetch sets it or raises
        return {"Authorization": self._token}

    def invalidate(self) -> None:
        self._token = None
        self._expires_at = 0.0

    def secret_values(self) -> tuple[str, ...]:
        return (self._access_token, self._secret, *self._issued)

    def _fetch(self, http: ConnectorHttp) -> None:
        payload = http.request(
            "POST",
            self.path,
            data={"access_token": self._access_token, "secret": self._secret},
            auth=False,
            idempotent=True,
        )
        token = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("Lengow did not return a token for this access token and secret")
        self._issued.append(token)
        self._token = token
        self._expires_at = self.clock() + self.lifetime - self.margin
        account_id = payload.get("account_id")
        self.account_id = account_id if isinstance(account_id, int) else None
        self.renewals += 1
        logger.info(
            "connector_token_issued provider=lengow account_id=%s valid_s=%d",
            self.account_id,
            self.lifetime - self.margin,
        )

    def __repr__(self) -> str:
        return (
            f"LengowTokenProvider(path={self.path!r}, access_token='********', secret='********')"
        )

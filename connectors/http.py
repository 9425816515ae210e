"""The one HTTP layer every marketplace connector talks through.

Built on :class:`~connectors.egress.GuardedSession`, because an account's base URL is a setting
a merchant can change (a sandbox, a regional host): every request and redirect hop is checked
against the outbound policy, and a refusal surfaces as :class:`DestinationRefused` (a
:class:`ConnectorError`, severity "error", chained to the ``OutboundRefused``), so jobs only ever
catch ConnectorError.

The rules, in the order a response meets them:

- 2xx: the parsed JSON (or the text, or None for an empty body).
- 401: with a renewable token (Lengow's, :mod:`connectors.lengow.auth`) the token is dropped,
  fetched again and the call repeated once; a second 401, or a 401 with a static token, is
  :class:`AuthError`. 403 is AuthError.
- ``retry_statuses`` (408, 429, 500, 502, 503, 504), timeouts and broken connections: retried up
  to ``max_attempts`` tries in all, sleeping ``random() * min(max_delay, backoff_base * 2**k)``
  after failure k (k = 0, 1, 2 ...: "full jitter"), or the server's ``Retry-After`` (seconds or
  an HTTP date; on a 429, the connector's ``rate_limit_wait_header`` first, e.g. ShoppingFeed's
  ``X-RateLimit-Wait``) capped at ``max_retry_after``. Then :class:`RateLimited` (429) or
  :class:`RetryableError`. POST and PATCH are repeated only after a 429 or a connect timeout
  unless the caller says the call is idempotent: a 5xx or a read timeout may come after the
  marketplace acted, and a shipment must not be confirmed twice.
- any other 5xx: :class:`RetryableError` at once (not retried here: the run's own retry policy
  decides), unless listed in ``reject_statuses``.
- any other 4xx (and ``reject_statuses``): :class:`RequestRejected` at once, with the
  marketplace's own message.

Log lines go to ``mercato.connectors`` as key=value with the method, a masked URL, the status, the
attempt and the elapsed milliseconds. No token, secret or password reaches a log line or an
exception message: URLs pass through :func:`safe_url` and texts through :func:`redact`.
"""

from __future__ import annotations

import email.utils
import logging
import random as _random
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests

from connectors import jsonio
from connectors.egress import Allowlist, GuardedSession, OutboundRefused, Resolver
from connectors.egress import guarded_session as make_guarded_session
from connectors.errors import (
    AuthError,
    ConnectorError,
    DestinationRefused,
    RateLimited,
    RequestRejected,
    RetryableError,
    marketplace_message,
    redact,
    safe_url,
)

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "BearerTokenProvider",
    "ConnectorHttp",
    "ErrorHook",
    "TokenProvider",
    "parse_retry_after",
]

logger = logging.getLogger("mercato.connectors")

DEFAULT_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
NON_IDEMPOTENT_METHODS = frozenset({"POST", "PATCH"})
# (status, body, content type, the sentence built so far) -> the error to raise for a refusal
# (a 4xx the layer would raise as RequestRejected), or None for that default: how a connector
# grades its API's own error codes (CodesWholesale's "too low stock" is worth a retry).
ErrorHook = Callable[[int, bytes, str, str], "ConnectorError | None"]


# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------


@runtime_checkable
class TokenProvider(Protocol):
    """Supplies the auth headers for a call. ``renewable``: a 401 is worth one renewal."""

    renewable: bool

    def auth_headers(self, http: ConnectorHttp) -> dict[str, str]:
        """Headers to add to an authenticated call (fetching a token first if need be)."""
        ...

    def invalidate(self) -> None:
        """Forget the cached token: the next :meth:`auth_headers` fetches a fresh one."""
        ...

    def secret_values(self) -> tuple[str, ...]:
        """Every credential and token this provider has held, for redaction."""
        ...


class BearerTokenProvider:
    """A static API token sent as ``Authorization: Bearer <token>`` (Letzshop). It cannot be
    renewed, so a 401 is an AuthError at once."""

    renewable = False

    def __init__(self, token: str, *, scheme: str = "Bearer") -> None:
        if not token:
            raise ValueError("an API token is required")
        self._token = token
        self._scheme = scheme

    def auth_headers(self, http: ConnectorHttp) -> dict[str, str]:
        value = f"{self._scheme} {self._token}" if self._scheme else self._token
        return {"Authorization": value}

    def invalidate(self) -> None:
        pass

    def secret_values(self) -> tuple[str, ...]:
        return (self._token,)

    def __repr__(self) -> str:
        return f"BearerTokenProvider(scheme={self._scheme!r}, token='********')"


# --------------------------------------------------------------------------------------------
# Retry-After
# --------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (relative to
    ``now``, epoch seconds, default the wall clock). None when absent or unreadable; never
    negative."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


class _Unauthorized(Exception):
    """Internal: a 401 came back; :meth:`ConnectorHttp.request` decides whether to renew."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


class ConnectorHttp:
    """One account's HTTP client: a base URL, a token provider, the retry policy and a guarded
    session. ``request`` returns parsed JSON (or text) or raises a ConnectorError subclass."""

    def __init__(
        self,
        base_url: str,
        *,
        allow: Allowlist = frozenset(),
        resolver: Resolver | None = None,
        token_provider: TokenProvider | None = None,
        session: GuardedSession | None = None,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        max_delay: float = 60.0,
        max_retry_after: float = 120.0,
        retry_statuses: Collection[int] = DEFAULT_RETRY_STATUSES,
        reject_statuses: Collection[int] = frozenset(),
        rate_limit_wait_header: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        error_hook: ErrorHook | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        base_url = (base_url or "").strip()
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the base URL {safe_url(base_url)!r} is not an http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("the base URL may not contain a query or a fragment")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        if session is not None and not isinstance(session, GuardedSession):
            raise TypeError("ConnectorHttp only talks through a GuardedSession")
        self.session = session or make_guarded_session(
            allow, resolver=resolver, timeout=read_timeout
        )
        self.token_provider = token_provider
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after
        self.retry_statuses = frozenset(retry_statuses)
        self.reject_statuses = frozenset(reject_statuses)
        # A marketplace's own "wait this many seconds" header on a 429 (ShoppingFeed's
        # X-RateLimit-Wait, fractional seconds), read before Retry-After.
        self.rate_limit_wait_header = rate_limit_wait_header
        self.default_headers = {"Accept": "application/json", **(default_headers or {})}
        self.error_hook = error_hook
        self._sleep = sleep
        self._random = random
        self._clock = clock

    # -- public ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | str | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one call (with retries and, for renewable tokens, one renewal after a 401).

        ``path_or_url``: a path joined to the base URL, or an absolute URL, which must be on the
        base URL's origin when ``auth`` is set (a token is never sent to another host).

        ``idempotent`` (default: by method, POST and PATCH are not): a call that may already
        have been applied (a 5xx or a read timeout after it was sent) is only repeated when it
        is idempotent, so a shipment confirmation is never sent twice by this layer. 429 and a
        failed connect are retried for every method: the marketplace did not act on them."""
        method = method.upper()
        if idempotent is None:
            idempotent = method not in NON_IDEMPOTENT_METHODS
        url = self.url_for(path_or_url)
        if auth and self.token_provider is not None and not self.same_origin(url):
            raise DestinationRefused(
                f"{self.display_url(url)} is not on {self.display_url(self.base_url)}: "
                "the account's credentials are only sent to its own API host"
            )
        renewed = False
        while True:
            call_headers = {**self.default_headers, **(headers or {})}
            if auth and self.token_provider is not None:
                call_headers.update(self.token_provider.auth_headers(self))
            try:
                response = self._send_with_retries(
                    method,
                    url,
                    idempotent=idempotent,
                    params=params,
                    json=json,
                    data=data,
                    headers=call_headers,
                )
            except _Unauthorized as exc:
                provider = self.token_provider
                if auth and provider is not None and provider.renewable and not renewed:
                    renewed = True
                    provider.invalidate()
                    logger.info(
                        "connector_token_renew method=%s url=%s reason=401",
                        method,
                        self.display_url(url, params),
                    )
                    continue
                raise AuthError(exc.message, status_code=401) from None
            return self._parse(response)

    def get(self, path_or_url: str, **kwargs: Any) -> Any:
        return self.request("GET", path_or_url, **kwargs)

    def post(self, path_or_url: str, **kwargs: Any) -> Any:
        return self.request("POST", path_or_url, **kwargs)

    def url_for(self, path_or_url: str) -> str:
        """Absolute URLs as they are; anything else appended to the base URL (so a base URL with
        a path prefix, e.g. a sandbox under /api, keeps it)."""
        if urlsplit(path_or_url).scheme:
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def same_origin(self, url: str) -> bool:
        return _origin(url) == _origin(self.base_url)

    def same_host(self, url: str) -> bool:
        return _origin(url)[1] == _origin(self.base_url)[1]

    def secret_values(self) -> tuple[str, ...]:
        return self.token_provider.secret_values() if self.token_provider else ()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ConnectorHttp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ConnectorHttp(base_url={self.display_url(self.base_url)!r})"

    def display_url(self, url: str, params: Mapping[str, Any] | None = None) -> str:
        """``url`` (with ``params``) as it may appear in a log line or a message."""
        if params:
            try:
                url = requests.Request("GET", url, params=dict(params)).prepare().url or url
            except requests.RequestException:
                pass
        return self.redact_text(safe_url(url))

    def redact_text(self, text: str) -> str:
        """``text`` with this account's credentials and tokens replaced by ``***``."""
        return redact(text, self.secret_values())

    # -- internals ---------------------------------------------------------------------------

    def _backoff(self, failures: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, backoff_base * 2**(failures - 1)))."""
        ceiling = min(self.max_delay, self.backoff_base * 2 ** (failures - 1))
        return self._random() * ceiling

    def _send_with_retries(
        self, method: str, url: str, *, idempotent: bool, headers: dict[str, str], **kwargs: Any
    ) -> requests.Response:
        display = self.display_url(url, kwargs.get("params"))
        attempt = 0
        while True:
            attempt += 1
            started = self._clock()
            try:
                response = self.session.request(
                    method, url, headers=headers, timeout=self.timeout, **kwargs
                )
            except OutboundRefused as exc:
                logger.warning(
                    "connector_http_refused method=%s url=%s attempt=%d", method, display, attempt
                )
                raise DestinationRefused(self.redact_text(str(exc))) from exc
            except requests.RequestException as exc:
                elapsed = self._elapsed_ms(started)
                problem, retryable = self._describe_transport_error(exc)
                safe_to_repeat = idempotent or isinstance(exc, requests.ConnectTimeout)
                logger.warning(
                    "connector_http_failed method=%s url=%s attempt=%d elapsed_ms=%d error=%s",
                    method,
                    display,
                    attempt,
                    elapsed,
                    type(exc).__name__,
                )
                message = f"{method} {display} failed: {problem}"
                if not retryable:
                    raise ConnectorError(message) from None
                if not safe_to_repeat:
                    raise RetryableError(
                        f"{message} (not repeated: it may have been applied)",
                        outcome_unknown=True,
                    ) from None
                if attempt >= self.max_attempts:
                    raise RetryableError(f"{message} (after {attempt} attempts)") from None
                self._wait(self._backoff(attempt), method, display, attempt, None)
                continue

            status = response.status_code
            elapsed = self._elapsed_ms(started)
            level = logging.INFO if status < 400 else logging.WARNING
            logger.log(
                level,
                "connector_http method=%s url=%s status=%d attempt=%d elapsed_ms=%d",
                method,
                display,
                status,
                attempt,
                elapsed,
            )
            if 200 <= status < 300:
                return response

            said = self.redact_text(marketplace_message(response.content, self._ctype(response)))
            what = f"{method} {display} answered {status}" + (f": {said}" if said else "")
            response.close()
            if status == 401:
                raise _Unauthorized(what)
            if status == 403:
                raise AuthError(what, status_code=status)
            if status in self.reject_statuses:
                raise RequestRejected(what, status_code=status)
            if status in self.retry_statuses and (idempotent or status == 429):
                retry_after = self._retry_after(response)
                if attempt >= self.max_attempts:
                    final = f"{what} (after {attempt} attempts)"
                    if status == 429:
                        raise RateLimited(final, status_code=status, retry_after=retry_after)
                    raise RetryableError(final, status_code=status)
                if retry_after is not None:
                    delay = min(retry_after, self.max_retry_after)
                else:
                    delay = self._backoff(attempt)
                self._wait(delay, method, display, attempt, status)
                continue
            if status in self.retry_statuses:  # a POST that may have been applied
                raise RetryableError(
                    f"{what} (not repeated)", status_code=status, outcome_unknown=True
                )
            if status >= 500:
                raise RetryableError(what, status_code=status)
            if 300 <= status < 400:
                raise ConnectorError(f"{what} (an unexpected redirect)", status_code=status)
            if self.error_hook is not None:
                graded = self.error_hook(status, response.content, self._ctype(response), what)
                if graded is not None:
                    raise graded
            raise RequestRejected(what, status_code=status)

    def _retry_after(self, response: requests.Response) -> float | None:
        """Seconds the server asked us to wait: its own rate-limit header on a 429 when the
        connector names one, else Retry-After."""
        if response.status_code == 429 and self.rate_limit_wait_header:
            raw = response.headers.get(self.rate_limit_wait_header)
            try:
                wait = float(raw) if raw is not None else None
            except ValueError:
                wait = None
            if wait is not None and wait >= 0 and wait == wait and wait != float("inf"):
                return wait
        return parse_retry_after(response.headers.get("Retry-After"))

    def _wait(
        self, delay: float, method: str, display: str, attempt: int, status: int | None
    ) -> None:
        logger.info(
            "connector_http_retry method=%s url=%s status=%s attempt=%d delay_s=%.2f",
            method,
            display,
            status if status is not None else "-",
            attempt,
            delay,
        )
        self._sleep(delay)

    def _elapsed_ms(self, started: float) -> int:
        return int((self._clock() - started) * 1000)

    @staticmethod
    def _ctype(response: requests.Response) -> str:
        return response.headers.get("Content-Type", "")

    def _describe_transport_error(self, exc: requests.RequestException) -> tuple[str, bool]:
        """(a sentence for the merchant, whether a retry may help). The exception's own text is
        not used: it is written for developers and may quote more than we want to show."""
        connect, read = self.timeout
        if isinstance(exc, requests.ConnectTimeout):
            return f"could not connect within {connect:g} s", True
        if isinstance(exc, requests.Timeout):
            return f"no answer within {read:g} s", True
        if isinstance(exc, requests.exceptions.SSLError):
            return "the secure (https) connection failed (certificate or TLS handshake)", False
        if isinstance(exc, requests.TooManyRedirects):
            return "too many redirects", False
        if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
            return "the connection failed or broke off", True
        return f"the request could not be sent ({type(exc).__name__})", False

    def _parse(self, response: requests.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        if "json" in self._ctype(response).lower():
            try:
                return jsonio.loads(response.content)
            except ValueError:
                raise ConnectorError(
                    f"{self.display_url(response.url or self.base_url)} sent invalid JSON",
                    status_code=response.status_code,
                ) from None
        try:
            return response.json()
        except ValueError:
            return response.text

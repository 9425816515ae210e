"""The shared HTTP layer: status -> error class, retries and backoff, tokens, secrets, SSRF.

No network and no real sleeping: ``responses`` answers every request (it patches the adapter's
``send``, under the guarded session's URL checks), host names are resolved by a fake resolver,
``sleep`` records the delays and the token clock is a fake.
"""

from __future__ import annotations

import email.utils
import logging
import random
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses

from connectors.egress import OutboundRefused
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
from connectors.http import (
    BearerTokenProvider,
    ConnectorHttp,
    TokenProvider,
    parse_retry_after,
)
from connectors.lengow.auth import LengowTokenProvider

PUBLIC_V4 = "93.184.216.34"
BASE = "https://api.lengow.io"
TOKEN_URL = f"{BASE}/access/get_token"
ORDERS_URL = f"{BASE}/v3.0/orders/"
SANDBOX = "https://sandbox.mercato.test:8443"  # allowlisted: no DNS needed

ACCESS_TOKEN = "acc-9f8e7d6c5b4a"
SECRET = "sec-0a1b2c3d4e5f"
TOKEN = "6b7280eb-e7d4-4b94-a829-7b3853a20126"
TOKEN_2 = "11111111-2222-3333-4444-555555555555"
STATIC_TOKEN = "letz-static-token-abcdef"

FAKE_DNS = {
    "api.lengow.io": [PUBLIC_V4],
    "api.letzshop.lu": [PUBLIC_V4],
    "elsewhere.example.com": [PUBLIC_V4],
    "metadata.example.com": ["169.254.169.254"],
}
ALLOW = frozenset({("sandbox.mercato.test", 8443)})


def fake_resolver(host: str, port: int) -> list[str]:
    if host not in FAKE_DNS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return FAKE_DNS[host]


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_http(
    base: str = BASE,
    *,
    provider: TokenProvider | None = None,
    sleeps: list[float] | None = None,
    rand: Callable[[], float] = lambda: 0.5,
    **kwargs: Any,
) -> ConnectorHttp:
    """A ConnectorHttp on the fake DNS and allowlist whose sleeps land in ``sleeps``."""
    recorded = sleeps if sleeps is not None else []
    return ConnectorHttp(
        base,
        allow=ALLOW,
        resolver=fake_resolver,
        token_provider=provider,
        sleep=recorded.append,
        random=rand,
        **kwargs,
    )


def lengow(clock: FakeClock | None = None) -> LengowTokenProvider:
    return LengowTokenProvider(ACCESS_TOKEN, SECRET, clock=clock or FakeClock())


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def add_token(rsps: responses.RequestsMock, token: str = TOKEN) -> None:
    rsps.add(responses.POST, TOKEN_URL, json={"token": token, "account_id": 155})


def token_calls(rsps: responses.RequestsMock) -> int:
    return sum(1 for call in rsps.calls if call.request.url == TOKEN_URL)


# --------------------------------------------------------------------------------------------
# Status code -> error class (as Singer SDK's tests/core/rest/test_failure.py)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error_class", "severity", "message", "calls"),
    [
        (400, {"error": {"message": "Invalid marketplace"}}, RequestRejected, "error",
         "Invalid marketplace", 1),
        (404, {"detail": "Not found."}, RequestRejected, "error", "Not found.", 1),
        (422, {"message": "sku is missing"}, RequestRejected, "error", "sku is missing", 1),
        (409, "Order already shipped", RequestRejected, "error", "Order already shipped", 1),
        (403, {"detail": "Account and Feed don't match"}, AuthError, "error",
         "Account and Feed don't match", 1),
        (401, {"detail": "Invalid token"}, AuthError, "error", "Invalid token", 1),
        (429, {"detail": "Request limitation reached"}, RateLimited, "retry",
         "Request limitation reached", 3),
        (408, "", RetryableError, "retry", "answered 408", 3),
        (500, "boom", RetryableError, "retry", "boom", 3),
        (502, "", RetryableError, "retry", "answered 502", 3),
        (503, {"detail": "maintenance"}, RetryableError, "retry", "maintenance", 3),
        (504, "", RetryableError, "retry", "answered 504", 3),
        (540, {"detail": "Technical Error"}, RetryableError, "retry", "Technical Error", 1),
        (501, "", RetryableError, "retry", "answered 501", 1),
    ],
)  # fmt: skip
def test_status_code_maps_to_error_class(
    rsps: responses.RequestsMock,
    status: int,
    body: Any,
    error_class: type[ConnectorError],
    severity: str,
    message: str,
    calls: int,
) -> None:
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    rsps.add(responses.GET, ORDERS_URL, status=status, **kwargs)
    sleeps: list[float] = []
    http = make_http(provider=BearerTokenProvider(STATIC_TOKEN), sleeps=sleeps, max_attempts=3)

    with pytest.raises(error_class) as info:
        http.request("GET", "/v3.0/orders/", params={"account_id": 155})

    assert type(info.value) is error_class
    assert info.value.severity == severity
    assert info.value.status_code == status
    assert message in str(info.value)
    assert "api.lengow.io/v3.0/orders/?account_id=155" in str(info.value)
    assert len(rsps.calls) == calls
    assert len(sleeps) == calls - 1


def test_reject_statuses_turn_a_5xx_into_a_rejection(rsps: responses.RequestsMock) -> None:
    """Lengow's 530 "Logical Error" is bad input, not an outage: a connector can say so."""
    rsps.add(responses.GET, ORDERS_URL, status=530, json={"detail": "catalog does not exist"})
    http = make_http(reject_statuses={530})
    with pytest.raises(RequestRejected, match="catalog does not exist"):
        http.get("/v3.0/orders/")


def test_success_returns_json_text_or_none(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, f"{BASE}/a", json={"ok": True})
    rsps.add(responses.GET, f"{BASE}/b", body="plain", content_type="text/plain")
    rsps.add(responses.DELETE, f"{BASE}/c", status=204)
    http = make_http()
    assert http.get("/a") == {"ok": True}
    assert http.get("b") == "plain"
    assert http.request("DELETE", "/c") is None


def test_invalid_json_with_json_content_type_is_an_error(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, f"{BASE}/a", body="{not json", content_type="application/json")
    with pytest.raises(ConnectorError, match="invalid JSON"):
        make_http().get("/a")


# --------------------------------------------------------------------------------------------
# Retries, backoff, Retry-After
# --------------------------------------------------------------------------------------------


def test_429_honours_retry_after_seconds(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, ORDERS_URL, status=429, headers={"Retry-After": "7"})
    rsps.add(responses.GET, ORDERS_URL, json={"results": []})
    sleeps: list[float] = []
    assert make_http(sleeps=sleeps).get("/v3.0/orders/") == {"results": []}
    assert sleeps == [7]


def test_huge_retry_after_is_capped(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, ORDERS_URL, status=429, headers={"Retry-After": "86400"})
    rsps.add(responses.GET, ORDERS_URL, json={})
    sleeps: list[float] = []
    make_http(sleeps=sleeps, max_retry_after=90).get("/v3.0/orders/")
    assert sleeps == [90]


def test_429_forever_is_rate_limited_with_the_last_retry_after(
    rsps: responses.RequestsMock,
) -> None:
    for _ in range(3):
        rsps.add(responses.GET, ORDERS_URL, status=429, headers={"Retry-After": "5"})
    sleeps: list[float] = []
    with pytest.raises(RateLimited) as info:
        make_http(sleeps=sleeps, max_attempts=3).get("/v3.0/orders/")
    assert info.value.retry_after == 5
    assert info.value.severity == "retry"
    assert "after 3 attempts" in str(info.value)
    assert sleeps == [5, 5]


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0
    assert parse_retry_after("12.5") == 12.5
    assert parse_retry_after("-3") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


def test_5xx_then_success_backs_off_with_full_jitter(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, ORDERS_URL, status=500)
    rsps.add(responses.GET, ORDERS_URL, status=500)
    rsps.add(responses.GET, ORDERS_URL, json={"count": 0})
    sleeps: list[float] = []
    rng = random.Random(42)
    http = make_http(sleeps=sleeps, rand=rng.random, backoff_base=2.0)

    assert http.get("/v3.0/orders/") == {"count": 0}
    assert len(rsps.calls) == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] < 2.0  # base * 2**0
    assert 0 <= sleeps[1] < 4.0  # base * 2**1


def test_backoff_ceiling_doubles_and_is_capped(rsps: responses.RequestsMock) -> None:
    for _ in range(6):
        rsps.add(responses.GET, ORDERS_URL, status=503)
    sleeps: list[float] = []
    http = make_http(
        sleeps=sleeps, rand=lambda: 1.0, backoff_base=1.0, max_delay=5.0, max_attempts=6
    )
    with pytest.raises(RetryableError) as info:
        http.get("/v3.0/orders/")
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert info.value.status_code == 503
    assert "after 6 attempts" in str(info.value)


def test_503_forever_gives_up_after_max_attempts(rsps: responses.RequestsMock) -> None:
    for _ in range(4):
        rsps.add(responses.GET, ORDERS_URL, status=503)
    sleeps: list[float] = []
    with pytest.raises(RetryableError):
        make_http(sleeps=sleeps, max_attempts=4).get("/v3.0/orders/")
    assert len(rsps.calls) == 4
    assert len(sleeps) == 3


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.ConnectionError("connection reset"),
    ],
)
def test_timeouts_and_connection_errors_are_retried(
    rsps: responses.RequestsMock, failure: Exception
) -> None:
    rsps.add(responses.GET, ORDERS_URL, body=failure)
    rsps.add(responses.GET, ORDERS_URL, json={"ok": 1})
    sleeps: list[float] = []
    assert make_http(sleeps=sleeps).get("/v3.0/orders/") == {"ok": 1}
    assert len(sleeps) == 1


def test_timeout_forever_is_retryable_error(rsps: responses.RequestsMock) -> None:
    for _ in range(3):
        rsps.add(responses.GET, ORDERS_URL, body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(RetryableError, match=r"no answer within 60 s \(after 3 attempts\)"):
        make_http(max_attempts=3).get("/v3.0/orders/")


def test_ssl_errors_are_not_retried(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, ORDERS_URL, body=requests.exceptions.SSLError("bad cert"))
    with pytest.raises(ConnectorError, match="secure") as info:
        make_http().get("/v3.0/orders/")
    assert type(info.value) is ConnectorError
    assert len(rsps.calls) == 1


def test_timeouts_are_passed_to_the_session(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, ORDERS_URL, json={})
    http = make_http(connect_timeout=3, read_timeout=20)
    seen: dict[str, Any] = {}
    original = http.session.request

    def spy(method: str, url: str, **kwargs: Any) -> requests.Response:
        seen.update(kwargs)
        return original(method, url, **kwargs)

    http.session.request = spy  # type: ignore[method-assign]
    http.get("/v3.0/orders/")
    assert seen["timeout"] == (3, 20)


# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------


def test_lengow_token_is_fetched_once_and_sent_raw(rsps: responses.RequestsMock) -> None:
    add_token(rsps)
    for _ in range(5):
        rsps.add(responses.GET, ORDERS_URL, json={"results": []})
    provider = lengow()
    http = make_http(provider=provider)

    for _ in range(5):
        http.get("/v3.0/orders/", params={"account_id": 155})

    assert token_calls(rsps) == 1
    form = parse_qs(rsps.calls[0].request.body)
    assert form == {"access_token": [ACCESS_TOKEN], "secret": [SECRET]}
    assert "Authorization" not in rsps.calls[0].request.headers
    for call in rsps.calls[1:]:
        assert call.request.headers["Authorization"] == TOKEN
    assert provider.account_id == 155


def test_lengow_token_is_renewed_after_its_lifetime(rsps: responses.RequestsMock) -> None:
    add_token(rsps, TOKEN)
    add_token(rsps, TOKEN_2)
    for _ in range(3):
        rsps.add(responses.GET, ORDERS_URL, json={})
    clock = FakeClock()
    http = make_http(provider=LengowTokenProvider(ACCESS_TOKEN, SECRET, clock=clock, margin=60))

    http.get("/v3.0/orders/")
    clock.advance(3600 - 61)
    http.get("/v3.0/orders/")  # still valid
    clock.advance(1)
    http.get("/v3.0/orders/")  # 3600 - 60 s old: renewed before Lengow would refuse it

    assert token_calls(rsps) == 2
    auths = [
        c.request.headers.get("Authorization") for c in rsps.calls if c.request.url != TOKEN_URL
    ]
    assert auths == [TOKEN, TOKEN, TOKEN_2]


def test_401_then_200_renews_exactly_once(rsps: responses.RequestsMock) -> None:
    add_token(rsps, TOKEN)
    rsps.add(responses.GET, ORDERS_URL, status=401, json={"detail": "Invalid token"})
    add_token(rsps, TOKEN_2)
    rsps.add(responses.GET, ORDERS_URL, json={"count": 4})
    provider = lengow()
    sleeps: list[float] = []

    assert make_http(provider=provider, sleeps=sleeps).get("/v3.0/orders/") == {"count": 4}
    assert token_calls(rsps) == 2
    assert provider.renewals == 2  # the first token and one renewal
    assert rsps.calls[-1].request.headers["Authorization"] == TOKEN_2
    assert sleeps == []


def test_401_twice_is_auth_error(rsps: responses.RequestsMock) -> None:
    add_token(rsps, TOKEN)
    rsps.add(responses.GET, ORDERS_URL, status=401, json={"detail": "Invalid token"})
    add_token(rsps, TOKEN_2)
    rsps.add(responses.GET, ORDERS_URL, status=401, json={"detail": "Invalid token"})

    with pytest.raises(AuthError) as info:
        make_http(provider=lengow()).get("/v3.0/orders/")
    assert info.value.status_code == 401
    assert info.value.severity == "error"
    assert token_calls(rsps) == 2
    assert len(rsps.calls) == 4


def test_static_bearer_token_is_not_renewed(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, "https://api.letzshop.lu/graphql", status=401, body="Unauthorized")
    http = make_http("https://api.letzshop.lu", provider=BearerTokenProvider(STATIC_TOKEN))
    with pytest.raises(AuthError, match="Unauthorized"):
        http.get("/graphql")
    assert len(rsps.calls) == 1
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {STATIC_TOKEN}"


def test_refused_credentials_at_get_token_are_auth_error(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, TOKEN_URL, status=401, json={"detail": "Invalid credentials"})
    with pytest.raises(AuthError, match="Invalid credentials"):
        make_http(provider=lengow()).get("/v3.0/orders/")
    assert len(rsps.calls) == 1


def test_get_token_without_a_token_is_auth_error(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, TOKEN_URL, json={"account_id": 155})
    with pytest.raises(AuthError, match="did not return a token"):
        make_http(provider=lengow()).get("/v3.0/orders/")


def test_providers_need_their_credentials() -> None:
    with pytest.raises(ValueError):
        LengowTokenProvider(ACCESS_TOKEN, "")
    with pytest.raises(ValueError):
        BearerTokenProvider("")
    assert isinstance(lengow(), TokenProvider)
    assert isinstance(BearerTokenProvider(STATIC_TOKEN), TokenProvider)


# --------------------------------------------------------------------------------------------
# No secret in a log line, a message or a repr
# --------------------------------------------------------------------------------------------


def _assert_nothing_leaks(texts: list[str]) -> None:
    for text in texts:
        for secret in (ACCESS_TOKEN, SECRET, TOKEN, TOKEN_2, STATIC_TOKEN):
            assert secret not in text, f"{secret!r} leaked into {text!r}"


def test_no_secret_in_logs_or_errors(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    add_token(rsps, TOKEN)
    rsps.add(responses.GET, ORDERS_URL, json={"results": []})
    rsps.add(responses.GET, ORDERS_URL, status=401, json={"detail": f"token {TOKEN} expired"})
    add_token(rsps, TOKEN_2)
    rsps.add(responses.GET, ORDERS_URL, status=401, body=f"bad token {TOKEN_2}")
    rsps.add(
        responses.GET,
        ORDERS_URL,
        status=400,
        json={"error": {"message": f"secret {SECRET} echoed back"}},
    )
    rsps.add(responses.GET, ORDERS_URL, status=503)
    rsps.add(responses.GET, ORDERS_URL, status=503)
    provider = lengow()
    http = make_http(provider=provider, max_attempts=2)

    errors: list[Exception] = []
    http.get("/v3.0/orders/", params={"account_id": 155})
    for _ in range(3):
        try:
            http.get("/v3.0/orders/", params={"account_id": 155, "token": TOKEN})
        except ConnectorError as exc:
            errors.append(exc)

    assert [type(e) for e in errors] == [AuthError, RequestRejected, RetryableError]
    assert "***" in str(errors[0]) and "***" in str(errors[1])
    texts = [r.getMessage() for r in caplog.records]
    texts += [str(e) for e in errors] + [repr(e.args) for e in errors]
    texts += [repr(provider), repr(http), repr(BearerTokenProvider(STATIC_TOKEN))]
    assert any("connector_http " in t and "elapsed_ms=" in t for t in texts)
    assert any("connector_token_renew" in t for t in texts)
    _assert_nothing_leaks(texts)


def test_log_lines_are_key_value(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mercato.connectors")
    rsps.add(responses.GET, ORDERS_URL, status=500)
    rsps.add(responses.GET, ORDERS_URL, json={})
    make_http().get("/v3.0/orders/", params={"account_id": 155})
    lines = [r.getMessage() for r in caplog.records if r.name == "mercato.connectors"]
    assert lines[0].startswith("connector_http method=GET url=https://api.lengow.io/v3.0/orders/")
    assert "status=500 attempt=1 elapsed_ms=" in lines[0]
    assert lines[1].startswith("connector_http_retry method=GET")
    assert "status=200 attempt=2" in lines[2]


def test_safe_url_masks_passwords_and_credential_params() -> None:
    url = "https://shop:pw123@api.example.com/x?account_id=1&access_token=abc&Secret=s3&token=t"
    shown = safe_url(url)
    assert "pw123" not in shown and "abc" not in shown and "s3" not in shown
    assert "account_id=1" in shown and "access_token=***" in shown and "Secret=***" in shown
    assert safe_url("https://api.example.com/x?page=2") == "https://api.example.com/x?page=2"


def test_redact_hides_longest_secret_first() -> None:
    assert redact("a abcdef b abcd", ["abcd", "abcdef"]) == "a *** b ***"
    assert redact("ab", ["ab", None, ""]) == "ab"  # too short to be worth hiding


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ('{"error": {"message": "Bad sku", "code": 12}}', "application/json", "Bad sku"),
        ('{"error": "invalid_grant"}', "application/json", "invalid_grant"),
        ('{"detail": "Not found."}', "application/json", "Not found."),
        ('{"message": "Nope"}', "application/json", "Nope"),
        ('{"errors": [{"message": "Field x"}]}', "application/json", "Field x"),
        ('{"weird": 1}', "application/json", '{"weird": 1}'),
        ("Forbidden: Account and Feed don't match", "text/plain",
         "Forbidden: Account and Feed don't match"),
        ("<html><body><h1>Bad  Gateway</h1></body></html>", "text/html", "Bad Gateway"),
        ("", "text/plain", ""),
    ],
)  # fmt: skip
def test_marketplace_message_shapes(body: str, content_type: str, expected: str) -> None:
    assert marketplace_message(body, content_type) == expected


def test_marketplace_message_is_truncated() -> None:
    message = marketplace_message("x" * 5000, "text/plain")
    assert len(message) <= 300 and message.endswith("…")


# --------------------------------------------------------------------------------------------
# Through the guarded session only
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://169.254.169.254",
        "https://metadata.example.com",  # resolves to 169.254.169.254
        "http://localhost:8080",
        "https://unknown-host.example.com",  # does not resolve
    ],
)
def test_internal_base_url_is_refused_as_destination_refused(
    rsps: responses.RequestsMock, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Decision: OutboundRefused is wrapped into DestinationRefused (a ConnectorError, severity
    "error", the guard's sentence as message, the OutboundRefused chained), so jobs need to
    catch ConnectorError only."""
    caplog.set_level(logging.DEBUG)
    http = make_http(base_url, provider=BearerTokenProvider(STATIC_TOKEN))
    with pytest.raises(DestinationRefused, match="Mercato will not fetch") as info:
        http.get("/latest/meta-data/")
    assert isinstance(info.value.__cause__, OutboundRefused)
    assert info.value.severity == "error"
    assert len(rsps.calls) == 0
    _assert_nothing_leaks([r.getMessage() for r in caplog.records] + [str(info.value)])


def test_redirect_to_metadata_is_refused(rsps: responses.RequestsMock) -> None:
    rsps.add(
        responses.GET,
        ORDERS_URL,
        status=302,
        headers={"Location": "http://169.254.169.254/latest/"},
    )
    with pytest.raises(DestinationRefused, match="redirected to"):
        make_http().get("/v3.0/orders/")


def test_allowlisted_sandbox_base_url_works(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, f"{SANDBOX}/api/v3.0/orders/", json={"count": 0})
    assert make_http(f"{SANDBOX}/api/").get("/v3.0/orders/") == {"count": 0}


def test_token_is_never_sent_to_another_host(rsps: responses.RequestsMock) -> None:
    http = make_http(provider=BearerTokenProvider(STATIC_TOKEN))
    with pytest.raises(DestinationRefused, match="only sent to its own API host"):
        http.get("https://elsewhere.example.com/steal")
    assert len(rsps.calls) == 0
    rsps.add(responses.GET, "https://elsewhere.example.com/public", json={})
    assert http.get("https://elsewhere.example.com/public", auth=False) == {}
    assert "Authorization" not in rsps.calls[0].request.headers


@pytest.mark.parametrize("base_url", ["ftp://api.lengow.io", "api.lengow.io", "", "https://x/?a=1"])
def test_base_url_must_be_http(base_url: str) -> None:
    with pytest.raises(ValueError):
        make_http(base_url)


def test_only_guarded_sessions_are_accepted() -> None:
    with pytest.raises(TypeError):
        ConnectorHttp(BASE, session=requests.Session())  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# A call that may have been applied is not repeated
# --------------------------------------------------------------------------------------------

ACTION_URL = f"{BASE}/v3.0/orders/actions/"


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},
        {"status": 502},
        {"status": 408},
        {"body": requests.exceptions.ReadTimeout("slow")},
    ],
)
def test_post_that_may_have_been_applied_is_not_repeated(
    rsps: responses.RequestsMock, failure: dict[str, Any]
) -> None:
    rsps.add(responses.POST, ACTION_URL, **failure)
    sleeps: list[float] = []
    with pytest.raises(RetryableError, match="not repeated"):
        make_http(sleeps=sleeps).post("/v3.0/orders/actions/", json={"action_type": "ship"})
    assert len(rsps.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 429, "headers": {"Retry-After": "2"}},
        {"body": requests.exceptions.ConnectTimeout("no connect")},
    ],
)
def test_post_is_repeated_when_the_marketplace_did_not_act(
    rsps: responses.RequestsMock, failure: dict[str, Any]
) -> None:
    rsps.add(responses.POST, ACTION_URL, **failure)
    rsps.add(responses.POST, ACTION_URL, json={"id": 1})
    assert make_http().post("/v3.0/orders/actions/", json={}) == {"id": 1}


def test_post_declared_idempotent_is_retried(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, f"{BASE}/graphql", status=502)
    rsps.add(responses.POST, f"{BASE}/graphql", json={"data": {}})
    assert make_http().post("/graphql", json={"query": "{}"}, idempotent=True) == {"data": {}}
    assert len(rsps.calls) == 2


def test_a_429_waits_as_the_connectors_own_header_says(rsps):
    """ShoppingFeed's X-RateLimit-Wait (fractional seconds) is read before Retry-After; a
    connector that names no such header keeps reading Retry-After."""
    url = f"{BASE}/v1/store/1/inventory"
    for _ in range(2):
        rsps.add(
            responses.PUT,
            url,
            status=429,
            headers={"X-RateLimit-Wait": "0.25", "Retry-After": "30"},
        )
    rsps.add(responses.PUT, url, json={"ok": True})
    sleeps: list[float] = []
    http = make_http(sleeps=sleeps, rate_limit_wait_header="X-RateLimit-Wait")
    assert http.request("PUT", "/v1/store/1/inventory", json={}) == {"ok": True}
    assert sleeps == [0.25, 0.25]

    rsps.add(
        responses.PUT, url, status=429, headers={"X-RateLimit-Wait": "0.25", "Retry-After": "3"}
    )
    rsps.add(responses.PUT, url, json={"ok": True})
    plain: list[float] = []
    assert make_http(sleeps=plain).request("PUT", "/v1/store/1/inventory", json={}) == {"ok": True}
    assert plain == [3.0]


def test_a_429_that_lasts_carries_the_header_wait(rsps):
    url = f"{BASE}/v1/store/1/pricing"
    for _ in range(3):
        rsps.add(responses.PUT, url, status=429, headers={"X-RateLimit-Wait": "1.5"})
    http = make_http(max_attempts=3, rate_limit_wait_header="X-RateLimit-Wait")
    with pytest.raises(RateLimited) as caught:
        http.request("PUT", "/v1/store/1/pricing", json={})
    assert caught.value.retry_after == 1.5

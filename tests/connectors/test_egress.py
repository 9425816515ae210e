"""The outbound guard: address policy, credentials, size and time limits, redirects, rebinding.

No network: names are resolved by an injected fake resolver (or a fake ``socket.getaddrinfo``),
and every real request goes to a throw-away HTTP server on 127.0.0.1, allowlisted by port.
"""

from __future__ import annotations

import base64
import gzip
import io
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests

from connectors.egress import (
    FetchError,
    GuardedSession,
    OutboundRefused,
    check_url,
    fetch_to_file,
    guarded_session,
    mask_url,
    parse_allowlist,
)

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"
PASSWORD = "hunter2"

FAKE_DNS = {
    "feeds.example.com": [PUBLIC_V4],
    "v6.example.com": [PUBLIC_V6],
    "dual.example.com": [PUBLIC_V4, PUBLIC_V6],
    "evil.example.com": ["10.0.0.5"],
    "mixed.example.com": [PUBLIC_V4, "127.0.0.1"],
    "mapped.example.com": ["::ffff:169.254.169.254"],
    "metadata.example.com": ["169.254.169.254"],
}


def fake_resolver(host: str, port: int) -> list[str]:
    if host not in FAKE_DNS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return FAKE_DNS[host]


def lying_resolver(host: str, port: int) -> list[str]:
    """A resolver that calls everything public: whatever is refused anyway is refused on its own
    merits (scheme, name, numeric form), not thanks to DNS."""
    return [PUBLIC_V4]


# --------------------------------------------------------------------------------------------
# mask_url and parse_allowlist
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://user:pass@host/path", "https://user:***@host/path"),
        ("https://user:pass@host:8443/feed.csv?x=1#f", "https://user:***@host:8443/feed.csv?x=1#f"),
        ("https://user:p%40ss@host/", "https://user:***@host/"),
        ("https://user:p@ss@host/a", "https://user:***@host/a"),
        ("https://:secret@host/", "https://:***@host/"),
        ("https://user:@host/", "https://user:***@host/"),
        ("https://user@host/path", "https://user@host/path"),
        ("https://host/path", "https://host/path"),
        ("https://host:8080/@someone", "https://host:8080/@someone"),
        ("ftp://user:pass@host/x", "ftp://user:***@host/x"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    "url",
    [
        "https://shop:pa/ss@host/feed.csv",  # raw '/' cuts the authority short
        "https://shop:pa?ss@host/feed.csv",
        "http://shop:pass@[::1/feed.csv",  # urllib.parse raises on this one
    ],
)
def test_mask_url_hides_raw_passwords_in_malformed_urls(url: str) -> None:
    masked = mask_url(url)
    assert "pa" not in masked.replace("shop", "")
    assert masked.startswith("http") and "shop:***@" in masked


def test_parse_allowlist_accepts_host_port_pairs() -> None:
    entries = ["127.0.0.1:8080", " Feeds.Partner.LAN:443 ", "[::1]:9000", "[0:0::1]:9001", ""]
    assert parse_allowlist(entries) == {
        ("127.0.0.1", 8080),
        ("feeds.partner.lan", 443),
        ("::1", 9000),
        ("::1", 9001),
    }


@pytest.mark.parametrize(
    "entry",
    [
        "example.com",
        "example.com:",
        ":80",
        "example.com:http",
        "example.com:0",
        "example.com:65536",
        "::1:8080",
        "[::1]",
        "[::1]8080",
        "http://example.com:80",
        "user@example.com:80",
    ],
)
def test_parse_allowlist_rejects_bad_entries(entry: str) -> None:
    with pytest.raises(ValueError, match="MERCATO_OUTBOUND_ALLOW entry"):
        parse_allowlist(["ok.example.com:443", entry])


# --------------------------------------------------------------------------------------------
# check_url
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://feeds.example.com/feed.csv",
        "http://FEEDS.example.com./feed.csv",
        "https://v6.example.com/feed.csv",
        "https://dual.example.com/feed.csv",
        "https://user:pass@feeds.example.com:8443/feed.csv",
        f"http://{PUBLIC_V4}/feed.csv",
        f"http://[{PUBLIC_V6}]/feed.csv",
        "http://8.8.8.8/",
        # The edges of the refused ranges are public.
        "http://172.15.255.255/",
        "http://172.32.0.1/",
        "http://100.63.255.255/",
        "http://100.128.0.1/",
        "http://192.167.255.255/",
        "http://11.0.0.1/",
        "http://[::ffff:8.8.8.8]/",
    ],
)
def test_public_destinations_are_allowed(url: str) -> None:
    check_url(url, resolver=fake_resolver)


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("[::1]", "loopback"),
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.10", "private"),
        ("[fc00::1]", "private"),
        ("[fd12:3456::1]", "private"),
        ("169.254.169.254", "link-local"),
        ("169.254.0.1", "link-local"),
        ("[fe80::1]", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - a refused target, not a bind
        ("0.1.2.3", "'this network'"),
        ("[::]", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("[ff02::1]", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[::ffff:169.254.169.254]", "link-local"),
        ("[::ffff:10.0.0.1]", "private"),
        ("[::ffff:100.64.0.1]", "carrier-grade NAT"),
        ("[2002:7f00:1::]", "loopback"),  # 6to4 wrapping 127.0.0.1
    ],
)
def test_internal_addresses_are_refused(host: str, kind: str) -> None:
    with pytest.raises(OutboundRefused, match=kind):
        check_url(f"http://{host}/feed.csv", resolver=lying_resolver)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("evil.example.com", "10.0.0.5"),
        ("mixed.example.com", "127.0.0.1"),  # one internal answer among public ones is enough
        ("mapped.example.com", "::ffff:169.254.169.254"),
        ("metadata.example.com", "169.254.169.254"),
    ],
)
def test_names_resolving_to_internal_addresses_are_refused(host: str, address: str) -> None:
    with pytest.raises(OutboundRefused) as refused:
        check_url(f"https://{host}/feed.csv", resolver=fake_resolver)
    assert f"{host} resolves to {address}" in str(refused.value)


NUMERIC_LOOPBACK = ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1", "017700000001"]


@pytest.mark.parametrize("host", NUMERIC_LOOPBACK)
def test_numeric_spellings_of_loopback_are_refused_with_the_system_resolver(host: str) -> None:
    with pytest.raises(OutboundRefused, match=r"127\.0\.0\.1, a loopback address"):
        check_url(f"http://{host}/")


@pytest.mark.parametrize("host", NUMERIC_LOOPBACK)
def test_numeric_spellings_of_loopback_are_refused_whatever_the_resolver_says(host: str) -> None:
    with pytest.raises(OutboundRefused, match="loopback"):
        check_url(f"http://{host}/", resolver=lying_resolver)


@pytest.mark.parametrize(
    "host",
    [
        "metadata.google.internal",
        "METADATA.google.internal.",
        "metadata",
        "localhost",
        "LocalHost.",
        "shop.localhost",
        "db.internal",
        "printer.local",
    ],
)
def test_internal_host_names_are_refused_even_if_they_resolve_publicly(host: str) -> None:
    with pytest.raises(OutboundRefused, match="internal host name"):
        check_url(f"http://{host}/computeMetadata/v1/", resolver=lying_resolver)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://feeds.example.com/feed.csv",
        "gopher://feeds.example.com:70/_stats",
        "dict://feeds.example.com:11211/stat",
        "javascript:alert(1)",
        "feeds.example.com/feed.csv",
        "//feeds.example.com/feed.csv",
    ],
)
def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(OutboundRefused, match=r"only http:// and https://"):
        check_url(url, resolver=fake_resolver)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http:///feed.csv", "no host name"),
        ("http://:80/feed.csv", "no host name"),
        ("http://[::1/feed.csv", "not a valid web address"),
        ("http://feeds.example.com:99999/", "not a valid web address"),
    ],
)
def test_malformed_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(OutboundRefused, match=reason):
        check_url(url, resolver=fake_resolver)


@pytest.mark.parametrize("resolver", [fake_resolver, lambda host, port: []])
def test_unresolvable_hosts_are_refused(resolver) -> None:
    with pytest.raises(OutboundRefused, match=r"nowhere\.example\.com could not be resolved"):
        check_url("https://nowhere.example.com/feed.csv", resolver=resolver)


def test_resolver_receives_host_and_effective_port() -> None:
    seen: list[tuple[str, int]] = []

    def recording(host: str, port: int) -> list[str]:
        seen.append((host, port))
        return [PUBLIC_V4]

    check_url("https://Feeds.Example.com/a", resolver=recording)
    check_url("http://feeds.example.com/a", resolver=recording)
    check_url("http://feeds.example.com:8080/a", resolver=recording)
    assert seen == [
        ("feeds.example.com", 443),
        ("feeds.example.com", 80),
        ("feeds.example.com", 8080),
    ]


def test_allowlist_lets_exactly_the_listed_host_and_port_through() -> None:
    allow = parse_allowlist(["127.0.0.1:8080", "feeds.partner.lan:443", "[::1]:9000"])
    check_url("http://127.0.0.1:8080/feed.csv", allow)
    check_url("https://FEEDS.partner.lan/feed.csv", allow, resolver=fake_resolver)
    check_url("http://[::1]:9000/", allow)
    for url in [
        "http://127.0.0.1:8081/feed.csv",  # another port on the same host
        "http://127.0.0.1/feed.csv",  # default port 80
        "http://localhost:8080/feed.csv",  # another name for the same address
        "http://feeds.partner.lan/feed.csv",  # 80, not 443
        "http://[::1]:9001/",
    ]:
        with pytest.raises(OutboundRefused):
            check_url(url, allow, resolver=lambda host, port: ["10.1.1.1"])


def test_refusal_message_names_the_url_but_not_the_password() -> None:
    with pytest.raises(OutboundRefused) as refused:
        check_url(f"http://shop:{PASSWORD}@10.0.0.1/feed.csv")
    message = str(refused.value)
    assert PASSWORD not in message
    assert message == (
        "Mercato will not fetch http://shop:***@10.0.0.1/feed.csv: "
        "10.0.0.1 is a private network address."
    )


# --------------------------------------------------------------------------------------------
# A real HTTP server on 127.0.0.1
# --------------------------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        local = self.server.local
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        local.seen.append(Seen(self.command, self.path, dict(self.headers), body))
        route = local.routes.get(urlsplit(self.path).path)
        try:
            if route is None:
                send(self, b"no such file", status=404)
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests): nothing to answer

    do_POST = do_PUT = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    local: LocalServer


@dataclass
class LocalServer:
    httpd: _Server
    routes: dict[str, Callable[[Handler], None]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def allow(self) -> set[tuple[str, int]]:
        return {("127.0.0.1", self.port)}

    def url(self, path: str, userinfo: str = "") -> str:
        return f"http://{userinfo}127.0.0.1:{self.port}{path}"


def send(
    handler: Handler,
    body: bytes,
    *,
    status: int = 200,
    content_type: str = "text/plain",
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def serve(body: bytes, **kwargs) -> Callable[[Handler], None]:
    return lambda handler: send(handler, body, **kwargs)


def redirect(location: str, status: int = 302) -> Callable[[Handler], None]:
    return lambda handler: send(handler, b"", status=status, headers={"Location": location})


def chunked(pieces: list[bytes]) -> Callable[[Handler], None]:
    """No Content-Length: the size is only known by counting."""

    def route(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for piece in [*pieces, b""]:
            handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        handler.wfile.flush()

    return route


@pytest.fixture
def make_server() -> Iterator[Callable[[], LocalServer]]:
    started: list[LocalServer] = []

    def start() -> LocalServer:
        httpd = _Server(("127.0.0.1", 0), Handler)
        local = httpd.local = LocalServer(httpd)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}).start()
        started.append(local)
        return local

    yield start
    for local in started:
        local.stop.set()  # releases handlers that are deliberately slow
        local.httpd.shutdown()
        local.httpd.server_close()


@pytest.fixture
def server(make_server) -> LocalServer:
    return make_server()


def fetch(url: str, server: LocalServer, **kwargs) -> tuple[dict, bytes]:
    kwargs.setdefault("allow", server.allow)
    kwargs.setdefault("max_bytes", 10 * 1024**2)
    dest = io.BytesIO()
    result = fetch_to_file(url, dest, **kwargs)
    return result, dest.getvalue()


# --------------------------------------------------------------------------------------------
# fetch_to_file
# --------------------------------------------------------------------------------------------


def test_streams_the_file_and_reports_progress(server: LocalServer) -> None:
    data = os.urandom(200_000)
    server.routes["/feed.csv"] = serve(data, content_type="text/csv; charset=utf-8")
    progress: list[tuple[int, int | None]] = []

    result, written = fetch(
        server.url("/feed.csv"),
        server,
        chunk_size=64 * 1024,
        on_progress=lambda done, total: progress.append((done, total)),
    )

    assert written == data
    assert result == {
        "bytes": len(data),
        "content_type": "text/csv; charset=utf-8",
        "final_url": server.url("/feed.csv"),
    }
    assert len(progress) >= 4
    assert progress[-1] == (len(data), len(data))
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


def test_a_gz_file_is_written_as_served(server: LocalServer) -> None:
    compressed = gzip.compress(b"sku;price\n" * 1000)
    server.routes["/feed.csv.gz"] = serve(compressed, content_type="application/gzip")

    result, written = fetch(server.url("/feed.csv.gz"), server)

    assert written == compressed
    assert result["bytes"] == len(compressed)


def test_gzip_transfer_encoding_is_decoded_and_counted_at_its_real_size(
    server: LocalServer,
) -> None:
    plain = b"sku;price\n" * 10_000  # 100 000 bytes, compresses to a few hundred
    server.routes["/feed.csv"] = serve(
        gzip.compress(plain), content_type="text/csv", headers={"Content-Encoding": "gzip"}
    )

    _, written = fetch(server.url("/feed.csv"), server)
    assert written == plain

    with pytest.raises(FetchError, match="larger than the 50000-byte limit"):
        fetch(server.url("/feed.csv"), server, max_bytes=50_000)


def test_credentials_in_the_url_are_sent_as_basic_auth(server: LocalServer) -> None:
    server.routes["/feed.csv"] = serve(b"ok")

    fetch(server.url("/feed.csv", userinfo="shop:s3cr%40t@"), server)

    (request,) = server.seen
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"shop:s3cr@t").decode()
    assert request.path == "/feed.csv"


def test_http_error_status_raises_with_status_code_and_no_password(server: LocalServer) -> None:
    with pytest.raises(FetchError) as failed:
        fetch(server.url("/missing.csv", userinfo=f"shop:{PASSWORD}@"), server)

    assert failed.value.status_code == 404
    assert str(failed.value) == (
        f"the server answered 404 Not Found for http://shop:***@127.0.0.1:{server.port}/missing.csv"
    )


def test_server_error_status_raises(server: LocalServer) -> None:
    server.routes["/feed.csv"] = serve(b"oops", status=503)
    with pytest.raises(FetchError, match="503 Service Unavailable") as failed:
        fetch(server.url("/feed.csv"), server)
    assert failed.value.status_code == 503


def test_content_length_over_the_limit_is_refused_before_reading(server: LocalServer) -> None:
    server.routes["/big.csv"] = serve(b"x" * 10_000)
    dest = io.BytesIO()

    with pytest.raises(FetchError, match=r"1000-byte limit \(10000 bytes announced\)") as failed:
        # Small chunks: a check made only while streaming would have written 1000 bytes.
        fetch_to_file(
            server.url("/big.csv"), dest, allow=server.allow, max_bytes=1000, chunk_size=100
        )

    assert dest.getvalue() == b""
    assert failed.value.status_code is None


def test_limit_is_phrased_in_megabytes(server: LocalServer) -> None:
    server.routes["/big.csv"] = serve(b"x" * (3 * 1024**2))
    with pytest.raises(FetchError, match="larger than the 2 MB limit"):
        fetch(server.url("/big.csv"), server, max_bytes=2 * 1024**2)


def test_streaming_without_content_length_stops_at_the_limit(server: LocalServer) -> None:
    server.routes["/feed.csv"] = chunked([b"x" * 1000] * 10)
    dest = io.BytesIO()

    with pytest.raises(FetchError, match="larger than the 2500-byte limit"):
        fetch_to_file(
            server.url("/feed.csv"), dest, allow=server.allow, max_bytes=2500, chunk_size=1000
        )
    assert 0 < len(dest.getvalue()) <= 2500

    # Exactly at the limit is fine, and progress has no total to offer.
    progress: list[tuple[int, int | None]] = []
    result, written = fetch(
        server.url("/feed.csv"),
        server,
        max_bytes=10_000,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert result["bytes"] == len(written) == 10_000
    assert progress[-1] == (10_000, None)


def test_a_server_that_does_not_answer_times_out(server: LocalServer) -> None:
    def slow(handler: Handler) -> None:
        server.stop.wait(5)
        send(handler, b"too late")

    server.routes["/slow.csv"] = slow
    started = time.monotonic()

    with pytest.raises(FetchError, match=r"timed out after 0\.5 s"):
        fetch(server.url("/slow.csv"), server, timeout=0.5)
    assert time.monotonic() - started < 2


def test_a_server_that_stalls_mid_file_times_out(server: LocalServer) -> None:
    def stall(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        handler.wfile.write(b"x" * 1000)
        handler.wfile.flush()
        server.stop.wait(5)

    server.routes["/stall.csv"] = stall
    started = time.monotonic()

    with pytest.raises(FetchError, match=r"timed out after 0\.5 s"):
        fetch(server.url("/stall.csv"), server, timeout=0.5, chunk_size=1000)
    assert time.monotonic() - started < 2


def test_a_closed_port_is_a_fetch_error(make_server) -> None:
    gone = make_server()
    port = gone.port
    gone.httpd.shutdown()
    gone.httpd.server_close()
    with pytest.raises(FetchError, match="could not connect to the server"):
        fetch(f"http://127.0.0.1:{port}/feed.csv", gone)


# --------------------------------------------------------------------------------------------
# Redirects
# --------------------------------------------------------------------------------------------


def test_same_origin_redirect_is_followed_with_credentials(server: LocalServer) -> None:
    server.routes["/old.csv"] = redirect("/feed.csv", status=301)
    server.routes["/feed.csv"] = serve(b"sku\n1\n")

    result, written = fetch(server.url("/old.csv", userinfo=f"shop:{PASSWORD}@"), server)

    assert written == b"sku\n1\n"
    assert result["final_url"] == server.url("/feed.csv")
    assert [seen.path for seen in server.seen] == ["/old.csv", "/feed.csv"]
    assert all(seen.headers.get("Authorization", "").startswith("Basic ") for seen in server.seen)


def test_redirect_to_a_port_that_is_not_allowlisted_is_refused(make_server) -> None:
    public, other = make_server(), make_server()
    public.routes["/feed.csv"] = redirect(other.url("/feed.csv"))
    other.routes["/feed.csv"] = serve(b"internal")

    with pytest.raises(OutboundRefused) as refused:
        fetch(public.url("/feed.csv"), public)

    assert f"redirected to http://127.0.0.1:{other.port}/feed.csv" in str(refused.value)
    assert other.seen == []


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/", "link-local"),
        ("http://10.0.0.1/admin", "private network"),
        ("http://[::ffff:127.0.0.1]:{port}/feed.csv", "loopback"),
        ("http://2130706433:{port}/feed.csv", "loopback"),
        ("http://localhost:{port}/feed.csv", "internal host name"),
        ("http://metadata.google.internal/computeMetadata/v1/", "internal host name"),
        ("file:///etc/passwd", "only http:// and https://"),
    ],
)
def test_redirect_to_an_internal_address_is_refused(
    server: LocalServer, location: str, reason: str
) -> None:
    server.routes["/feed.csv"] = redirect(location.format(port=server.port))

    with pytest.raises(OutboundRefused, match=reason):
        fetch(server.url("/feed.csv"), server, resolver=lying_resolver)
    assert [seen.path for seen in server.seen] == ["/feed.csv"]


def test_redirect_chains_are_limited(server: LocalServer) -> None:
    for n in range(1, 6):
        server.routes[f"/chain/{n}"] = redirect(f"/chain/{n - 1}", status=307)
    server.routes["/chain/0"] = serve(b"end")

    _, written = fetch(server.url("/chain/2"), server, max_redirects=2)
    assert written == b"end"

    server.seen.clear()
    with pytest.raises(FetchError, match="redirected more than 2 times"):
        fetch(server.url("/chain/3"), server, max_redirects=2)
    assert [seen.path for seen in server.seen] == ["/chain/3", "/chain/2", "/chain/1"]


def test_credentials_are_not_forwarded_to_another_host(server: LocalServer) -> None:
    # 'localhost' is a different host name for the same server: allowlist it explicitly.
    allow = server.allow | {("localhost", server.port)}
    server.routes["/feed.csv"] = redirect(f"http://localhost:{server.port}/moved.csv")
    server.routes["/moved.csv"] = serve(b"ok")

    _, written = fetch(server.url("/feed.csv", userinfo=f"shop:{PASSWORD}@"), server, allow=allow)

    assert written == b"ok"
    first, second = server.seen
    assert first.headers["Authorization"].startswith("Basic ")
    assert second.headers["Host"] == f"localhost:{server.port}"
    assert "Authorization" not in second.headers


def test_credentials_are_not_forwarded_to_another_port(make_server) -> None:
    first, second = make_server(), make_server()
    first.routes["/feed.csv"] = redirect(second.url("/feed.csv"))
    second.routes["/feed.csv"] = serve(b"ok")

    fetch(first.url("/feed.csv", userinfo="shop:pw@"), first, allow=first.allow | second.allow)

    assert "Authorization" in first.seen[0].headers
    assert "Authorization" not in second.seen[0].headers


# --------------------------------------------------------------------------------------------
# DNS rebinding
# --------------------------------------------------------------------------------------------


class FakeDNS:
    """Answers lookups of 'rebind.example.com' from a script, one answer per lookup (the last one
    repeating); every other name goes to the real resolver."""

    def __init__(self, real_getaddrinfo) -> None:
        self.real_getaddrinfo = real_getaddrinfo
        self.script: list[str] = []
        self.answered: list[str] = []

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        if host != "rebind.example.com":
            return self.real_getaddrinfo(host, port, family, type, proto, flags)
        address = self.script[min(len(self.answered), len(self.script) - 1)]
        self.answered.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]


@pytest.fixture
def fake_dns(monkeypatch) -> FakeDNS:
    dns = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns


@pytest.mark.parametrize("session_factory", [None, requests.Session, GuardedSession])
def test_dns_rebinding_to_loopback_is_refused_at_connect_time(
    server: LocalServer, fake_dns: FakeDNS, session_factory
) -> None:
    """The rebinding attack: the check's lookup gets a public address, the connection's lookup
    gets 127.0.0.1. Whatever session the caller brings, the connection is refused."""
    server.routes["/feed.csv"] = serve(b"secret internal data")
    fake_dns.script = [PUBLIC_V4, "127.0.0.1"]
    session = session_factory() if session_factory else None

    with pytest.raises(OutboundRefused, match=r"pointed to 127\.0\.0\.1, a loopback address"):
        fetch(f"http://rebind.example.com:{server.port}/feed.csv", server, session=session)

    assert fake_dns.answered == [PUBLIC_V4, "127.0.0.1"]  # checked public, then connected
    assert server.seen == []  # refused before a byte of the request was sent


def test_fake_dns_really_reaches_the_local_server(server: LocalServer, fake_dns: FakeDNS) -> None:
    """The control for the test above: with the name allowlisted, the same fake DNS leads to the
    local server, so the refusal there is the peer check's doing and nothing else's."""
    server.routes["/feed.csv"] = serve(b"data")
    fake_dns.script = ["127.0.0.1"]
    allow = server.allow | {("rebind.example.com", server.port)}

    _, written = fetch(f"http://rebind.example.com:{server.port}/feed.csv", server, allow=allow)

    assert written == b"data"
    assert fake_dns.answered == ["127.0.0.1"]  # allowlisted: no check-time lookup
    assert server.seen[0].headers["Host"] == f"rebind.example.com:{server.port}"


# --------------------------------------------------------------------------------------------
# guarded_session for API connectors
# --------------------------------------------------------------------------------------------


def test_guarded_session_makes_api_calls_to_allowed_hosts(server: LocalServer) -> None:
    server.routes["/api/orders"] = serve(b'{"orders": []}', content_type="application/json")
    with guarded_session(server.allow, timeout=2) as session:
        response = session.get(server.url("/api/orders"), params={"page": 2})
    assert response.json() == {"orders": []}
    assert server.seen[0].path == "/api/orders?page=2"


def test_guarded_session_refuses_internal_urls_and_redirects(server: LocalServer) -> None:
    server.routes["/api/token"] = redirect("http://169.254.169.254/latest/api/token", status=307)
    with guarded_session(server.allow) as session:
        with pytest.raises(OutboundRefused):
            session.get("http://169.254.169.254/latest/meta-data/")
        with pytest.raises(OutboundRefused, match="redirected to http://169.254.169.254/"):
            session.put(server.url("/api/token"), data=b"x")
        with pytest.raises(OutboundRefused, match="proxy"):
            session.get(server.url("/api/orders"), proxies={"http": "http://127.0.0.1:3128"})
    assert len(server.seen) == 1


def test_guarded_session_send_never_follows_redirects(server: LocalServer) -> None:
    server.routes["/api/old"] = redirect("/api/new")
    server.routes["/api/new"] = serve(b"{}")
    with guarded_session(server.allow) as session:
        prepared = session.prepare_request(requests.Request("GET", server.url("/api/old")))
        response = session.send(prepared, allow_redirects=True)
    assert response.status_code == 302
    assert [seen.path for seen in server.seen] == ["/api/old"]


def test_guarded_session_redirect_rules_for_methods_and_headers(server: LocalServer) -> None:
    allow = server.allow | {("localhost", server.port)}
    server.routes["/api/submit"] = redirect("/api/result", status=303)
    server.routes["/api/result"] = serve(b"{}", content_type="application/json")
    server.routes["/api/moved"] = redirect(f"http://localhost:{server.port}/api/new", status=307)
    server.routes["/api/new"] = serve(b"{}", content_type="application/json")

    with guarded_session(allow) as session:
        session.headers["Authorization"] = "Bearer session-token"
        session.post(server.url("/api/submit"), json={"sku": "A1"}, params={"v": 1})
        session.post(server.url("/api/moved"), json={"sku": "B2"})

    submit, result, moved, new = server.seen
    assert (submit.method, submit.body) == ("POST", b'{"sku": "A1"}')
    assert (result.method, result.path, result.body) == ("GET", "/api/result", b"")
    assert result.headers["Authorization"] == "Bearer session-token"  # same origin
    assert (new.method, new.body) == ("POST", b'{"sku": "B2"}')  # 307 keeps method and body
    assert moved.headers["Authorization"] == "Bearer session-token"
    assert "Authorization" not in new.headers  # another host


# --------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------


def test_log_lines_are_key_value_and_never_contain_the_password(
    server: LocalServer, caplog
) -> None:
    caplog.set_level(logging.DEBUG, logger="connectors.egress")
    server.routes["/feed.csv"] = serve(b"ok")
    server.routes["/bounce.csv"] = redirect("http://10.0.0.1/x")
    creds = f"shop:{PASSWORD}@"

    fetch(server.url("/feed.csv", userinfo=creds), server)
    with pytest.raises(FetchError):
        fetch(server.url("/missing.csv", userinfo=creds), server)
    with pytest.raises(OutboundRefused):
        fetch(server.url("/bounce.csv", userinfo=creds), server)

    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("outbound_fetch_done url=http://shop:***@") for m in messages)
    assert any(m.startswith("outbound_fetch_failed ") for m in messages)
    assert any(m.startswith("outbound_refused ") for m in messages)
    assert PASSWORD not in caplog.text


def test_unresolvable_ok_lets_an_unknown_name_through_but_never_an_internal_one():
    def nowhere(host, port):
        raise OSError("no DNS here")

    with pytest.raises(OutboundRefused, match="could not be resolved"):
        check_url("https://api.example.invalid/", resolver=nowhere)
    check_url("https://api.example.invalid/", resolver=nowhere, unresolvable_ok=True)
    for url in (
        "http://169.254.169.254/",
        "http://127.0.0.1:8080/",
        "http://metadata.google.internal/",
    ):
        with pytest.raises(OutboundRefused):
            check_url(url, resolver=nowhere, unresolvable_ok=True)

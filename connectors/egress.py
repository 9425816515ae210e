"""The egress guard: the one door for outbound HTTP requests whose address a merchant can steer.

A merchant types a product-feed URL (and, later, a marketplace base URL) and a Mercato worker
fetches it from inside our network. Without a guard that is server-side request forgery: the
"feed" could be ``http://169.254.169.254/`` (cloud credentials), ``http://127.0.0.1:6379/``
(Redis) or an admin page on the private network. Every such request therefore goes through this
module, which enforces three things:

1. **Only public http(s) destinations.** :func:`check_url` refuses other schemes, internal host
   names, and any host that resolves to a loopback, private, link-local, CGNAT, multicast,
   reserved or otherwise non-public address (IPv4-mapped IPv6 included). Operators can let
   specific ``host:port`` pairs through with ``MERCATO_OUTBOUND_ALLOW`` (:func:`parse_allowlist`),
   e.g. a feed server on the office network or a local test server.

2. **Every hop is checked.** Redirects are followed by hand, never by requests itself, and each
   ``Location`` is put through :func:`check_url` before it is requested, so a public URL that
   answers ``302 Location: http://169.254.169.254/`` is refused. Credentials (from the URL, an
   ``auth=`` argument or an ``Authorization`` header) are dropped when a redirect leaves the
   origin they were meant for.

3. **The connection goes where the check said.** Checking a name and then letting the HTTP
   library resolve it again leaves a gap: a hostile DNS server can answer the check with a public
   address and the connection with ``127.0.0.1`` ("DNS rebinding"). So the transport re-checks at
   the socket: the guarded urllib3 connection classes below look at the peer address of every new
   socket (``getpeername()``), after the TCP connect but before a single byte of the request
   (or TLS handshake) is sent, and refuse the connection unless that address is public or the
   ``host:port`` is allowlisted. The rule at connect time is "the peer is public", not "the peer
   is one of the addresses seen at check time": CDNs and S3 rotate their answers from one lookup
   to the next, and a different *public* address is harmless. The check covers every route to an
   internal address, including parser differences between the check and the transport.

Outbound proxies are not supported by the guarded transport (the peer would be the proxy, which
says nothing about the destination), and guarded sessions ignore proxy environment variables and
``~/.netrc`` (``trust_env = False``) so neither can redirect or decorate merchant-chosen requests.

Nothing here may leak a merchant's password: every URL that reaches a message or a log line
passes through :func:`mask_url`, and credentials are taken out of the URL before requests and
urllib3 see it, so their own exception texts cannot contain them either.

This module must not import Flask: connectors run in workers and scripts too.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import time
from collections.abc import Callable, Iterable
from typing import IO, Any, NoReturn
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import LocationParseError, ReadTimeoutError
from urllib3.util import parse_url

__all__ = [
    "FetchError",
    "GuardedSession",
    "OutboundRefused",
    "check_url",
    "fetch_to_file",
    "guarded_session",
    "mask_url",
    "parse_allowlist",
]

logger = logging.getLogger(__name__)

Resolver = Callable[[str, int], Iterable[str]]
Allowlist = set[tuple[str, int]] | frozenset[tuple[str, int]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}

# Names that point inside the infrastructure whatever public DNS says about them. The address
# check below catches them anyway wherever they resolve; refusing by name gives a clearer message
# and covers machines whose resolver maps them somewhere unexpected.
INTERNAL_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal", "instance-data"})
INTERNAL_SUFFIXES = (".localhost", ".internal", ".local", ".home.arpa")

_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")

# Headers that carry credentials or session state for one origin only.
_ORIGIN_BOUND_HEADERS = ("Authorization", "Cookie")


class OutboundRefused(Exception):
    """The URL may not be fetched: message is a sentence a merchant understands (never contains a
    password)."""


class FetchError(Exception):
    """The fetch failed (HTTP status, timeout, too large, connection error): clear sentence, no
    password in it. ``status_code`` is the HTTP status when the server answered with one."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


# --------------------------------------------------------------------------------------------
# URLs and the allowlist
# --------------------------------------------------------------------------------------------

# Fallback for URLs urllib.parse cannot make sense of, typically a password typed with a raw
# '/', '?' or '#' ('https://shop:pa/ss@host/'): hide everything from the first ':' after the
# user name up to the last '@'. It may hide more than the password; never less.
_RAW_CREDENTIALS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:).*@")


def mask_url(url: str) -> str:
    """The same URL with the password replaced by ``***`` (the user name stays: it helps the
    merchant recognise which account is meant). Safe on malformed input: never raises."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError when the authority was cut short inside a raw password
    except ValueError:
        return _RAW_CREDENTIALS.sub(r"\1***@", url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def _normalize_host(host: str) -> str:
    """Lower-case, without IPv6 brackets or the trailing FQDN dot; IP literals in canonical form,
    so that '[0:0::1]' in a URL matches '[::1]' in the allowlist."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.removesuffix(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def parse_allowlist(entries: list[str]) -> set[tuple[str, int]]:
    """Turn ``MERCATO_OUTBOUND_ALLOW`` entries ('host:port', IPv6 as '[::1]:8080'; already split
    on commas) into ``{(host, port)}``. Ports are required so that allowing a dev feed server
    does not also open Redis on the same machine. Blank entries are skipped; anything else that
    is not 'host:port' raises ValueError naming the entry, so a typo stops the process at start
    instead of silently refusing (or allowing) the wrong thing."""
    allowed: set[tuple[str, int]] = set()
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        hint = "expected host:port, e.g. feeds.example.com:443 or [::1]:8080"
        if "/" in entry or "@" in entry:
            raise ValueError(f"MERCATO_OUTBOUND_ALLOW entry {entry!r} is not host:port ({hint})")
        if entry.startswith("["):
            host, sep, port_text = entry[1:].partition("]:")
            if not sep or ":" not in host:
                raise ValueError(
                    f"MERCATO_OUTBOUND_ALLOW entry {entry!r} is not [ipv6]:port ({hint})"
                )
        else:
            host, sep, port_text = entry.rpartition(":")
            if not sep or not host:
                raise ValueError(f"MERCATO_OUTBOUND_ALLOW entry {entry!r} needs a port ({hint})")
            if ":" in host:
                raise ValueError(
                    f"MERCATO_OUTBOUND_ALLOW entry {entry!r}: write IPv6 addresses in brackets "
                    f"({hint})"
                )
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(
                f"MERCATO_OUTBOUND_ALLOW entry {entry!r} has no valid port (1-65535) ({hint})"
            )
        allowed.add((_normalize_host(host), int(port_text)))
    return allowed


# --------------------------------------------------------------------------------------------
# The address policy
# --------------------------------------------------------------------------------------------


def _non_public_kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public internet address (a phrase for messages), or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            # ::ffff:a.b.c.d *is* a.b.c.d to the kernel: judge the IPv4 address alone.
            return _non_public_kind(ip.ipv4_mapped)
        if ip.sixtofour is not None:  # 2002:a.b.c.d::/48 tunnels to a.b.c.d
            embedded = _non_public_kind(ip.sixtofour)
            if embedded:
                return embedded
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if ip.version == 4 and ip in _THIS_NETWORK:
        return "a 'this network' address"
    if ip.version == 4 and ip in _CARRIER_GRADE_NAT:
        return "a carrier-grade NAT address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private network address"
    if not ip.is_global:
        return "not a public internet address"
    return None


def _show(ip: IPAddress) -> str:
    """An address as people write it: '::ffff:127.0.0.1', not Python 3.11's '::ffff:7f00:1'."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"::ffff:{ip.ipv4_mapped}"
    return str(ip)


def _ip_literal(host: str) -> IPAddress | None:
    """``host`` as an address if it is written as one, including the legacy IPv4 spellings that
    C resolvers accept ('127.1', '2130706433', '0x7f000001', '0177.0.0.1'). Parsing those here
    means they are judged as addresses even when a resolver is injected or lenient."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fx.]+", host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


class _Unresolvable(Exception):
    pass


def _resolve(host: str, port: int, resolver: Resolver | None) -> list[IPAddress]:
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        if resolver is None:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            names = [info[4][0] for info in infos]
        else:
            names = list(resolver(host, port))
        addresses = [ipaddress.ip_address(name) for name in names]
    except (OSError, UnicodeError, ValueError) as exc:
        raise _Unresolvable from exc
    if not addresses:
        raise _Unresolvable
    return addresses


def _is_internal_name(host: str) -> bool:
    return host in INTERNAL_NAMES or host.endswith(INTERNAL_SUFFIXES)


def _refusal_reason(
    url: str, allow: Allowlist, resolver: Resolver | None, unresolvable_ok: bool = False
) -> str | None:
    """Why ``url`` may not be fetched (the end of a sentence), or None if it may.

    The URL is parsed with urllib3's parser, the one requests and urllib3 use to decide where to
    connect, so that the check and the connection agree on what the host is ('http://a\\@b/'
    means host 'a' to urllib3 but host 'b' to urllib.parse)."""
    try:
        parts = parse_url(url)
    except LocationParseError:
        return "it is not a valid web address"
    scheme = (parts.scheme or "").lower()
    if scheme not in DEFAULT_PORTS:
        return "only http:// and https:// addresses can be fetched"
    host = _normalize_host(parts.host or "")
    if not host:
        return "the address has no host name"
    port = parts.port or DEFAULT_PORTS[scheme]
    if (host, port) in allow:
        return None
    if _is_internal_name(host):
        return f"{host} is an internal host name"
    try:
        addresses = _resolve(host, port, resolver)
    except _Unresolvable:
        return None if unresolvable_ok else f"the host name {host} could not be resolved"
    for address in addresses:
        kind = _non_public_kind(address)
        if kind:
            if str(address) == host:
                return f"{_show(address)} is {kind}"
            return f"{host} resolves to {_show(address)}, {kind}"
    return None


def check_url(
    url: str,
    allow: Allowlist = frozenset(),
    *,
    resolver: Resolver | None = None,
    unresolvable_ok: bool = False,
) -> None:
    """Raise OutboundRefused unless ``url`` is http(s) and its host is public or allowlisted.

    "Public" means every address the host resolves to (``socket.getaddrinfo``, or
    ``resolver(host, port) -> [ip, ...]`` when injected) is outside the loopback, private,
    link-local, CGNAT, 0.0.0.0/8, multicast and reserved ranges, IPv4-mapped IPv6 included. One
    internal address among public ones is enough to refuse: the connection could pick it.
    An allowlisted ``(host, port)`` (port defaulting to 80/443 by scheme) skips the address check.

    ``unresolvable_ok`` is for settings checked ahead of time (a connector's base URL): a name
    that does not resolve now may later, and every request is checked again when it is made.
    """
    reason = _refusal_reason(url.strip(), allow, resolver, unresolvable_ok)
    if reason:
        _refuse(mask_url(url), reason)


def _refuse(display_url: str, reason: str, redirected_from: str | None = None) -> NoReturn:
    logger.warning(
        "outbound_refused url=%s redirected_from=%s reason=%r",
        display_url,
        redirected_from,
        reason,
    )
    if redirected_from:
        raise OutboundRefused(
            f"{redirected_from} redirected to {display_url}, which Mercato will not fetch: "
            f"{reason}."
        )
    raise OutboundRefused(f"Mercato will not fetch {display_url}: {reason}.")


# --------------------------------------------------------------------------------------------
# The transport: connect-time peer check (the DNS-rebinding defence)
# --------------------------------------------------------------------------------------------


class _PeerCheckingConnection:
    """Mixin for urllib3 connections: refuse a freshly connected socket whose peer is not public.

    ``_new_conn`` is where urllib3 turns (host, port) into a connected socket, for plain HTTP and
    before the TLS handshake for HTTPS, so nothing has been sent yet when this runs. The
    exception raised is not an OSError, so neither urllib3's retry logic nor requests' error
    translation swallow it: the caller gets OutboundRefused itself."""

    outbound_allow: frozenset[tuple[str, int]] = frozenset()

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        host = _normalize_host(self.host)  # type: ignore[attr-defined]
        port = self.port  # type: ignore[attr-defined]
        if (host, port) in self.outbound_allow:
            return sock
        try:
            peer = ipaddress.ip_address(sock.getpeername()[0])
            shown, kind = _show(peer), _non_public_kind(peer)
        except (OSError, ValueError):
            shown, kind = "an unknown address", "which could not be verified"
        if kind:
            sock.close()
            logger.warning(
                "outbound_refused_at_connect host=%s port=%s peer=%s reason=%r",
                host,
                port,
                shown,
                kind,
            )
            raise OutboundRefused(
                f"Mercato will not connect to {host}: when connecting, it pointed to {shown}, "
                f"{kind}."
            )
        return sock


def _guarded_pool_classes(allow: frozenset[tuple[str, int]]) -> dict[str, type]:
    """urllib3 pool classes whose connections check their peer against ``allow``."""

    class GuardedHTTPConnection(_PeerCheckingConnection, HTTPConnection):
        outbound_allow = allow

    class GuardedHTTPSConnection(_PeerCheckingConnection, HTTPSConnection):
        outbound_allow = allow

    class GuardedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


class _GuardedAdapter(HTTPAdapter):
    """requests adapter whose connection pools use the peer-checking connections."""

    __attrs__ = [*HTTPAdapter.__attrs__, "allow"]

    def __init__(self, allow: Allowlist = frozenset(), **kwargs: Any) -> None:
        self.allow = frozenset(allow)  # before super().__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _guarded_pool_classes(self.allow)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise OutboundRefused(
            "Mercato's outbound requests cannot go through a proxy: the destination address "
            "could not be verified."
        )


def _install_guard(session: requests.Session, allow: Allowlist) -> None:
    """Make sure ``session`` talks through the peer-checking transport for ``allow``."""
    allow = frozenset(allow)
    for prefix in ("https://", "http://"):
        current = session.adapters.get(prefix)
        if not (isinstance(current, _GuardedAdapter) and current.allow == allow):
            session.mount(prefix, _GuardedAdapter(allow))


# --------------------------------------------------------------------------------------------
# Requests with checked, hand-followed redirects
# --------------------------------------------------------------------------------------------


class _NoAuth(AuthBase):
    """Explicitly no credentials: stops requests from falling back to ``session.auth``."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


def _split_credentials(url: str) -> tuple[str, HTTPBasicAuth | None]:
    """(URL without user:password, Basic auth built from them or None). Taking them out of the
    URL means requests/urllib3 never hold them in anything they might print."""
    parts = parse_url(url)
    if not parts.auth:
        return url, None
    user, _, password = parts.auth.partition(":")
    return parts._replace(auth=None).url, HTTPBasicAuth(unquote(user), unquote(password))


def _origin(url: str) -> tuple[str, str, int]:
    parts = parse_url(url)
    scheme = (parts.scheme or "").lower()
    return scheme, _normalize_host(parts.host or ""), parts.port or DEFAULT_PORTS.get(scheme, 0)


def _keeps_credentials(old_url: str, new_url: str) -> bool:
    """Credentials follow a redirect only within the same origin, or on the plain
    http://host -> https://host upgrade (as requests itself allows)."""
    old, new = _origin(old_url), _origin(new_url)
    if old == new:
        return True
    return old == ("http", new[1], 80) and new == ("https", old[1], 443)


def _redirected_method(status: int, method: str) -> str:
    """The method browsers and requests use after a redirect: 303 (and, historically, 302 and
    301 for POST) turn into GET; 307 and 308 keep the method and body."""
    if status in (302, 303) and method != "HEAD":
        return "GET"
    if status == 301 and method == "POST":
        return "GET"
    return method


def _send_checked(
    session: requests.Session,
    method: str,
    url: str,
    *,
    allow: Allowlist,
    resolver: Resolver | None,
    max_redirects: int,
    follow_redirects: bool = True,
    **kwargs: Any,
) -> requests.Response:
    """One request with the full policy: check the URL, send without letting requests follow
    redirects, and for each redirect check the next URL, adjust method, body and credentials, and
    go round again. ``requests.Session.request`` is called unbound so that a GuardedSession
    passed in here does not run this loop a second time."""
    url = url.strip()
    display = first_display = mask_url(url)
    reason = _refusal_reason(url, allow, resolver)
    if reason:
        _refuse(display, reason)
    url, url_auth = _split_credentials(url)
    auth = kwargs.pop("auth", None) or url_auth
    headers = dict(kwargs.pop("headers", None) or {})
    history: list[requests.Response] = []

    while True:
        logger.debug("outbound_request method=%s url=%s", method, display)
        response = requests.Session.request(
            session, method, url, auth=auth, headers=headers, allow_redirects=False, **kwargs
        )
        target = session.get_redirect_target(response) if follow_redirects else None
        if target is None:
            response.history = history
            return response
        response.close()
        history.append(response)
        if len(history) > max_redirects:
            raise requests.TooManyRedirects(
                f"{first_display} redirected more than {max_redirects} times", response=response
            )

        next_url = urljoin(response.url, target.strip())
        next_display = mask_url(next_url)
        reason = _refusal_reason(next_url, allow, resolver)
        if reason:
            _refuse(next_display, reason, redirected_from=display)
        logger.debug(
            "outbound_redirect status=%s from=%s to=%s", response.status_code, display, next_display
        )
        next_url, next_auth = _split_credentials(next_url)
        if not _keeps_credentials(url, next_url):
            auth = _NoAuth()
            kwargs.pop("cookies", None)  # per-request cookies have no domain: any host gets them
            for name in _ORIGIN_BOUND_HEADERS:
                headers.pop(name, None)
                headers[name] = None  # also masks a session-level header of that name
        if next_auth is not None:
            auth = next_auth
        next_method = _redirected_method(response.status_code, method)
        if next_method != method:
            for key in ("data", "json", "files"):
                kwargs.pop(key, None)
            for name in ("Content-Type", "Content-Length"):
                headers.pop(name, None)
        kwargs.pop("params", None)  # already part of the first URL; the Location is complete
        method, url, display = next_method, next_url, next_display


class GuardedSession(requests.Session):
    """A requests Session for connector API calls (JSON GET/POST) with the outbound policy:
    every URL and redirect hop checked, redirects followed by hand, the peer-checking transport,
    a default (connect, read) timeout, and no proxy/.netrc from the environment.

    Only keyword arguments are accepted after the URL (``session.get(url, params=...)``, as
    requests' own helpers call it)."""

    def __init__(
        self,
        allow: Allowlist = frozenset(),
        *,
        resolver: Resolver | None = None,
        timeout: float = 30,
        max_redirects: int = 5,
    ) -> None:
        super().__init__()
        self.allow = frozenset(allow)
        self.resolver = resolver
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.trust_env = False
        _install_guard(self, self.allow)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (self.timeout, self.timeout)
        follow = kwargs.pop("allow_redirects", True)
        return _send_checked(
            self,
            method,
            url,
            allow=self.allow,
            resolver=self.resolver,
            max_redirects=self.max_redirects,
            follow_redirects=follow,
            **kwargs,
        )

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """The low-level door :meth:`request` goes through. Called directly it skips the URL
        check (the connect-time peer check still applies), so it never follows redirects:
        requests' own redirect handling would skip the per-hop check."""
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


def guarded_session(
    allow: Allowlist = frozenset(),
    resolver: Resolver | None = None,
    timeout: float = 30,
    *,
    max_redirects: int = 5,
) -> GuardedSession:
    """A :class:`GuardedSession` for connectors that make API calls to merchant-chosen hosts."""
    return GuardedSession(allow, resolver=resolver, timeout=timeout, max_redirects=max_redirects)


# --------------------------------------------------------------------------------------------
# Downloading a feed
# --------------------------------------------------------------------------------------------


def _describe_limit(max_bytes: int) -> str:
    if max_bytes >= 1024**2:
        return f"{max_bytes / 1024**2:g} MB"
    return f"{max_bytes}-byte"


def _is_read_timeout(exc: requests.RequestException) -> bool:
    """requests reports a timeout while *streaming the body* as a ConnectionError wrapping
    urllib3's ReadTimeoutError, not as requests.Timeout."""
    if isinstance(exc, requests.Timeout):
        return True
    return any(isinstance(arg, ReadTimeoutError) for arg in exc.args)


def _fetch_error(
    exc: requests.RequestException, display: str, timeout: float, *, reading: bool
) -> FetchError:
    """A merchant-readable FetchError for a transport failure (``reading``: it happened while
    the body was streaming). The original exception's text is not used: it is written for
    developers, and chained for them."""
    if _is_read_timeout(exc):
        return FetchError(f"the request to {display} timed out after {timeout:g} s")
    if isinstance(exc, requests.TooManyRedirects):
        return FetchError(str(exc))
    if isinstance(exc, requests.exceptions.SSLError):
        return FetchError(
            f"the secure (https) connection for {display} failed: the server's certificate "
            "was not accepted or the TLS handshake failed"
        )
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return FetchError(f"the server sent {display} with a compression that could not be read")
    if reading or isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return FetchError(f"the connection broke off while downloading {display}")
    if isinstance(exc, requests.ConnectionError):
        return FetchError(f"could not connect to the server for {display}")
    return FetchError(f"{display} could not be fetched ({type(exc).__name__})")


def fetch_to_file(
    url: str,
    dest: IO[bytes],
    *,
    allow: Allowlist = frozenset(),
    max_bytes: int,
    timeout: float = 30,
    resolver: Resolver | None = None,
    max_redirects: int = 5,
    session: requests.Session | None = None,
    chunk_size: int = 1 << 16,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Stream ``url`` into the open binary file ``dest`` under the outbound policy.

    Returns ``{'bytes': n, 'content_type': str | None, 'final_url': masked URL}``.

    - ``user:password@`` in the URL is sent as HTTP Basic auth, kept across same-origin
      redirects and dropped when a redirect goes to another host.
    - At most ``max_redirects`` redirects, each hop checked before it is requested.
    - ``timeout`` applies to connecting and to each read (a stalled server), in seconds.
    - ``max_bytes`` is enforced from Content-Length before reading and again while streaming, on
      the bytes written to ``dest``. Those are the bytes as served, except that an HTTP
      ``Content-Encoding: gzip`` is undone (so a gzip bomb counts at its real size); a file that
      *is* a .gz (``Content-Type: application/gzip``) is written compressed, as it should be.
    - HTTP statuses that are neither success nor a followed redirect raise FetchError with
      ``status_code``.
    - ``on_progress(bytes_so_far, total_or_None)`` is called after each chunk written.
    - ``session``: a requests Session to use (its adapters for http/https are replaced by the
      peer-checking transport); by default a fresh :func:`guarded_session`, closed afterwards.
    """
    display = mask_url(url.strip())
    own_session = session is None
    if session is None:
        session = guarded_session(allow, resolver=resolver, timeout=timeout)
    else:
        _install_guard(session, allow)
    started = time.monotonic()
    response: requests.Response | None = None
    try:
        try:
            response = _send_checked(
                session,
                "GET",
                url,
                allow=allow,
                resolver=resolver,
                max_redirects=max_redirects,
                stream=True,
                timeout=(timeout, timeout),
            )
        except requests.RequestException as exc:
            raise _fetch_error(exc, display, timeout, reading=False) from exc
        final_display = mask_url(response.url) if response.history else display

        if response.status_code >= 300:
            raise FetchError(
                f"the server answered {response.status_code} {response.reason} for {final_display}",
                status_code=response.status_code,
            )
        total = _content_length(response)
        if total is not None and total > max_bytes:
            raise FetchError(
                f"{final_display} is larger than the {_describe_limit(max_bytes)} limit "
                f"({total} bytes announced)"
            )
        # With Content-Encoding the announced length is of the encoded bytes: no use as a total.
        progress_total = None if response.headers.get("Content-Encoding") else total

        written = 0
        try:
            for chunk in response.iter_content(chunk_size):
                if written + len(chunk) > max_bytes:
                    raise FetchError(
                        f"{final_display} is larger than the {_describe_limit(max_bytes)} limit"
                    )
                dest.write(chunk)
                written += len(chunk)
                if on_progress is not None:
                    on_progress(written, progress_total)
        except requests.RequestException as exc:
            raise _fetch_error(exc, final_display, timeout, reading=True) from exc

        content_type = response.headers.get("Content-Type")
        logger.info(
            "outbound_fetch_done url=%s bytes=%d content_type=%s redirects=%d seconds=%.2f",
            final_display,
            written,
            content_type,
            len(response.history),
            time.monotonic() - started,
        )
        return {"bytes": written, "content_type": content_type, "final_url": final_display}
    except FetchError as exc:
        logger.warning(
            "outbound_fetch_failed url=%s status=%s error=%r", display, exc.status_code, str(exc)
        )
        raise
    finally:
        if response is not None:
            response.close()
        if own_session:
            session.close()


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None

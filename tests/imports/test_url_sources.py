"""Importing from a URL end to end, against a real local HTTP server: credentials masked and
encrypted, compression, web pages, the outbound policy (SSRF) and the size limit."""

from __future__ import annotations

import base64
import gzip
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.imports.helpers import product_count, products
from webapp.crypto import decrypt
from webapp.extensions import db
from webapp.imports.request import ImportRequestError
from webapp.imports.service import create_run, execute
from webapp.models import Run
from webapp.models import runs as R

FEED = b"id,title,price\nU1,From the web,12.5\nU2,Second,3\n"
PASSWORD = "s3cr3t-Pa55"  # noqa: S105


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    auth: str | None = None  # "user:password" required as HTTP Basic auth
    content_length: bool = True


@dataclass
class FeedServer:
    port: int
    routes: dict[str, Route]
    requests: list[tuple[str, str | None]]  # (path, Authorization header)

    def url(self, path: str, userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"http://{at}127.0.0.1:{self.port}{path}"


@pytest.fixture
def server(app):
    routes: dict[str, Route] = {}
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            seen.append((self.path, self.headers.get("Authorization")))
            route = routes.get(self.path)
            if route is None:
                self._answer(404, b"not found", {"Content-Type": "text/plain"})
                return
            if route.auth is not None:
                expected = "Basic " + base64.b64encode(route.auth.encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self._answer(401, b"no", {"WWW-Authenticate": 'Basic realm="feeds"'})
                    return
            self._answer(route.status, route.body, route.headers, route.content_length)

        def _answer(self, status, body, headers, content_length=True):
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if content_length:
                self.send_header("Content-Length", str(len(body)))
            else:
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    port = httpd.server_address[1]
    app.config["MERCATO_OUTBOUND_ALLOW"] = [f"127.0.0.1:{port}"]
    yield FeedServer(port, routes, seen)
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def work_files(app) -> list[Path]:
    root = Path(app.config["MERCATO_WORK_DIR"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def run_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Run))


def import_url(store, url: str) -> Run:
    run = create_run(store, source_url=url, trigger="cli")
    return execute(run.id)


def seed_product(store, server) -> object:
    """One product imported from the server, to prove a failing run leaves it alone."""
    server.routes["/seed.csv"] = Route(body=b"id,title,price\nK1,Keep,1\n")
    assert import_url(store, server.url("/seed.csv")).status == R.COMPLETED
    return products(store)["K1"].updated_at


def test_import_by_url_end_to_end_and_the_download_is_removed(app, store, server):
    server.routes["/feed.csv"] = Route(body=FEED, headers={"Content-Type": "text/csv"})
    run = import_url(store, server.url("/feed.csv"))
    assert run.status == R.COMPLETED, run.error_message
    assert (run.imported_count, run.total_processed, run.progress) == (2, 2, 100)
    assert run.source_url == server.url("/feed.csv") and run.source_secret is None
    assert products(store)["U1"].translation("en").title == "From the web"
    assert server.requests == [("/feed.csv", None)]
    assert work_files(app) == []


def test_credentials_are_masked_encrypted_and_sent_as_basic_auth(app, store, server):
    server.routes["/private/feed.csv"] = Route(body=FEED, auth=f"shop:{PASSWORD}")
    url = server.url("/private/feed.csv", f"shop:{PASSWORD}")
    run = create_run(store, source_url=url)
    db.session.expire_all()
    stored = db.session.get(Run, run.id)
    assert stored.source_url == server.url("/private/feed.csv", "shop:***")
    assert stored.source_secret and PASSWORD not in stored.source_secret
    assert stored.source_secret != url
    assert decrypt(stored.source_secret) == url

    run = execute(run.id)
    assert run.status == R.COMPLETED, run.error_message
    assert run.imported_count == 2
    expected = "Basic " + base64.b64encode(f"shop:{PASSWORD}".encode()).decode()
    assert server.requests == [("/private/feed.csv", expected)]
    assert work_files(app) == []


@pytest.mark.parametrize(
    ("path", "password", "status"),
    [("/private/feed.csv", "wrong-" + PASSWORD, 401), ("/missing.csv", PASSWORD, 404)],
)
def test_http_errors_fail_clearly_without_the_password(app, store, server, path, password, status):
    server.routes["/private/feed.csv"] = Route(body=FEED, auth=f"shop:{PASSWORD}")
    run = import_url(store, server.url(path, f"shop:{password}"))
    assert run.status == R.FAILED
    assert str(status) in run.error_message
    assert "shop:***@" in run.error_message
    assert password not in run.error_message and PASSWORD not in run.error_message
    assert server.requests and server.requests[0][1] is not None  # credentials were sent
    assert product_count() == 0
    assert work_files(app) == []


@pytest.mark.parametrize(
    "route",
    [
        Route(body=gzip.compress(FEED), headers={"Content-Type": "application/gzip"}),
        Route(
            body=gzip.compress(FEED),
            headers={"Content-Type": "text/csv", "Content-Encoding": "gzip"},
        ),
    ],
    ids=["gzip-file", "content-encoding-gzip"],
)
def test_gzip_feed_over_http_imports(app, store, server, route):
    server.routes["/feed.csv.gz"] = route
    run = import_url(store, server.url("/feed.csv.gz"))
    assert run.status == R.COMPLETED, run.error_message
    assert set(products(store)) == {"U1", "U2"}
    assert work_files(app) == []


def test_an_html_login_page_fails_the_run_and_touches_nothing(app, store, server):
    before = seed_product(store, server)
    server.routes["/login"] = Route(
        body=b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
        b"<body><form method=post><input name=password></form></body></html>",
        headers={"Content-Type": "text/html; charset=utf-8"},
    )
    run = import_url(store, server.url("/login"))
    assert run.status == R.FAILED
    assert "web page" in run.error_message
    assert product_count() == 1 and products(store)["K1"].updated_at == before
    assert work_files(app) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{other}/feed.csv",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/feed.csv",
        "http://user:pw@10.0.0.1:8080/feed.csv",
        "file:///etc/passwd",
        "ftp://127.0.0.1:{port}/feed.csv",
        "http://localhost:{port}/feed.csv",
    ],
)
def test_internal_or_non_http_urls_are_refused_and_create_no_run(store, server, url):
    url = url.format(port=server.port, other=server.port + 1 if server.port < 65535 else 1)
    with pytest.raises(ImportRequestError) as refused:
        create_run(store, source_url=url)
    assert ":pw@" not in str(refused.value)
    assert run_count() == 0
    assert server.requests == []


def test_a_redirect_to_an_internal_address_is_refused(app, store, server):
    before = seed_product(store, server)
    server.routes["/moved.csv"] = Route(
        status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    server.routes["/hop.csv"] = Route(
        status=301, headers={"Location": f"http://127.0.0.1:{server.port + 1}/feed.csv"}
    )
    for path in ("/moved.csv", "/hop.csv"):
        run = import_url(store, server.url(path))
        assert run.status == R.FAILED
        assert "redirected to" in run.error_message
        assert "will not fetch" in run.error_message
    assert product_count() == 1 and products(store)["K1"].updated_at == before
    assert work_files(app) == []


def test_a_redirect_within_the_allowed_server_is_followed(store, server):
    server.routes["/old.csv"] = Route(status=302, headers={"Location": "/feed.csv"})
    server.routes["/feed.csv"] = Route(body=FEED)
    run = import_url(store, server.url("/old.csv"))
    assert run.status == R.COMPLETED, run.error_message
    assert [p for p, _ in server.requests] == ["/old.csv", "/feed.csv"]


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "streamed"])
def test_a_response_over_the_size_limit_fails_the_run(app, store, server, announced):
    app.config["MERCATO_FETCH_MAX_BYTES"] = 100
    body = b"id,title,price\n" + b"".join(b"B%d,Big item %d,1\n" % (i, i) for i in range(200))
    server.routes["/big.csv"] = Route(body=body, content_length=announced)
    run = import_url(store, server.url("/big.csv"))
    assert run.status == R.FAILED
    assert "larger than the 100-byte limit" in run.error_message
    assert product_count() == 0
    assert work_files(app) == []

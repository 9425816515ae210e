"""Browser tests: the real app served over HTTP, driven by Playwright and Debian's Chromium.

* ``live_server``: ``create_app`` on a SQLite file built by the Alembic revisions (a copy
  of the ``sqlite_template`` session fixture), the tests' Redis, CSRF on, served by a
  threaded werkzeug server on 127.0.0.1 in a background thread.
* ``rq_worker``: ``python -m jobs.worker`` in a subprocess on the same database, Redis and
  secrets, so imports started from a page really progress.
* ``browser`` / ``page``: Chromium from ``/usr/bin/chromium`` (``CHROMIUM_BIN``), headless.
  Playwright's own browser downloads (``playwright install``) are never used;
  ``scripts/ensure_chromium.sh`` installs Debian's package.
* ``users``: store ``acme`` with ``shop@acme.test`` and the admin ``admin@mercato.test``.
* ``shot(page, name)`` saves a full-page screenshot under ``tests/browser/screenshots/``;
  ``login(page, live_server, email, password)`` submits the login form.

Browser tests run on SQLite only: what a page does (markup, CSS, htmx, redirects) does
not depend on the database back-end, and the database behaviour itself is covered by the
rest of the suite on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import TEMPLATE_CACHE, TEST_PASSWORD_HASH_METHOD, redis_url
from tests.sandbox_server import serve_in_thread
from webapp import create_app
from webapp.extensions import db

ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 10_000
WORKER_START_SECONDS = 90
PASSWORD = "password123"
STORE_EMAIL = "shop@acme.test"
ADMIN_EMAIL = "admin@mercato.test"


@dataclass
class LiveServer:
    url: str
    app: Flask
    database_uri: str
    work_dir: Path


@dataclass
class Users:
    store_code: str
    store_email: str
    admin_email: str
    password: str


@dataclass
class RQWorker:
    process: subprocess.Popen
    log: Path


@pytest.fixture
def live_server(sqlite_template, tmp_path, redis_conn) -> Iterator[LiveServer]:
    path = tmp_path / "browser.sqlite3"
    shutil.copy(sqlite_template, path)
    database_uri = f"sqlite:///{path}"
    work_dir = tmp_path / "work"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_uri,
            "REDIS_URL": redis_url(),
            "MERCATO_WORK_DIR": str(work_dir),
            "WTF_CSRF_ENABLED": True,
            "MERCATO_PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH_METHOD,
        }
    )
    app.jinja_env.bytecode_cache = TEMPLATE_CACHE
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = serve_in_thread(server, "live-server")
    try:
        yield LiveServer(
            url=f"http://127.0.0.1:{server.server_port}",
            app=app,
            database_uri=database_uri,
            work_dir=work_dir,
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def rq_worker(live_server, tmp_path) -> Iterator[RQWorker]:
    """A real ``python -m jobs.worker`` on the live app's database, Redis and secrets."""
    from redis import Redis
    from rq import Worker

    config = live_server.app.config
    env = {
        **os.environ,
        "MERCATO_ENV": "test",
        "DATABASE_URL": live_server.database_uri,
        "REDIS_URL": config["REDIS_URL"],
        "SECRET_KEY": config["SECRET_KEY"],
        "MERCATO_ENCRYPTION_KEYS": ",".join(config["MERCATO_ENCRYPTION_KEYS"]),
        "MERCATO_WORK_DIR": config["MERCATO_WORK_DIR"],
        "MERCATO_QUEUE_PREFIX": config.get("MERCATO_QUEUE_PREFIX", ""),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "rq-worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jobs.worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    conn = Redis.from_url(config["REDIS_URL"])
    try:
        # Long enough for a loaded machine (2 cores, a parallel run, a browser): starting takes
        # a second or two, but 20 s ran out under load. An exited worker fails at once.
        deadline = time.monotonic() + WORKER_START_SECONDS
        while not any(w.pid == process.pid for w in Worker.all(connection=conn)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the RQ worker did not start (exit code {process.poll()}):\n"
                    + log.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.1)
        yield RQWorker(process=process, log=log)
    finally:
        if process.poll() is None:
            process.terminate()  # SIGTERM: RQ's warm shutdown
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        conn.close()


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: run scripts/ensure_chromium.sh "
            "(as root it installs Debian's chromium package)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


# Every page the tests open reports what its Content-Security-Policy blocked: Chromium fires
# securitypolicyviolation in the page, which this script (run before the page's own, and
# not subject to the policy) turns into a console message the fixture collects.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile || e.documentURI}:${e.lineNumber} (${e.sample || ""})`);
});
"""
CSP_MARKERS = ("CSP violation", "Content Security Policy", "Content-Security-Policy")


class CSPViolations(list):
    """The policy violations (and htmx refusing to eval) seen by one test's page."""


@pytest.fixture
def csp_violations() -> CSPViolations:
    return CSPViolations()


@pytest.fixture
def page(browser, csp_violations):
    """A fresh page; the test fails if any page it opened broke the Content-Security-Policy
    (an inline script, style or handler, eval, a foreign source) - tests that provoke one on
    purpose empty ``csp_violations`` themselves."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            csp_violations.append(f"{page.url}: {message.text}")
            if any(marker in message.text for marker in CSP_MARKERS)
            else None
        ),
    )
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
    yield page
    context.close()
    assert not csp_violations, "Content-Security-Policy violations:\n" + "\n".join(csp_violations)


@pytest.fixture
def users(live_server) -> Users:
    from webapp.models import Store, User

    with live_server.app.app_context():
        store = Store(code="acme", name="Acme")
        db.session.add(store)
        db.session.flush()
        shop = User(email=STORE_EMAIL, store_id=store.id)
        shop.set_password(PASSWORD)
        admin = User(email=ADMIN_EMAIL, is_admin=True)
        admin.set_password(PASSWORD)
        db.session.add_all([shop, admin])
        db.session.commit()
        db.session.remove()
    return Users(
        store_code="acme", store_email=STORE_EMAIL, admin_email=ADMIN_EMAIL, password=PASSWORD
    )


def shot(page, name: str) -> Path:
    """A full-page PNG of ``page`` at tests/browser/screenshots/<name>.png (kept in git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, live_server: LiveServer, email: str, password: str) -> None:
    """Open /login, fill the form and submit it (waits for the next page to load)."""
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("form:has(input[name=password]) button[type=submit]")

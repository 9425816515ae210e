"""Smoke tests in a real browser: assets load, login works, each role lands on its home,
and a job enqueued by the live app is executed by the real RQ worker."""

from __future__ import annotations

import json
import time

from tests.browser.conftest import ROOT, login, shot


def pinned_version(name: str) -> str:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    return lock["packages"][f"node_modules/{name}"]["version"]


def test_login_page_loads_pico_and_htmx(page, live_server):
    statuses: dict[str, int] = {}
    errors: list[str] = []
    page.on("response", lambda r: statuses.__setitem__(r.url.split("/static/", 1)[-1], r.status))
    page.on("pageerror", lambda exc: errors.append(f"script error: {exc}"))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    response = page.goto(f"{live_server.url}/login")
    page.wait_for_load_state("load")
    shot(page, "login")

    assert response.status == 200
    assert statuses.get("vendor/pico/pico.min.css") == 200
    assert statuses.get("vendor/htmx/htmx.min.js") == 200
    assert page.title() == "Log in · Mercato"
    # Pico's custom properties are defined on :root and its button styling is applied.
    root_font = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--pico-font-family')"
    )
    assert root_font.strip(), "Pico's --pico-font-family is not set: pico.min.css not applied"
    button_bg = page.eval_on_selector(
        "form button[type=submit]", "b => getComputedStyle(b).backgroundColor"
    )
    primary_bg = page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--pico-primary-background')"
    )
    assert primary_bg.strip()
    assert button_bg not in ("rgba(0, 0, 0, 0)", "rgb(239, 239, 239)"), button_bg
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("window.htmx.version") == pinned_version("htmx.org")
    # No script error and no failed or refused request (the favicon included).
    errors += [f"HTTP {status}: {path}" for path, status in statuses.items() if status >= 400]
    assert errors == []


def test_wrong_password_shows_error(page, live_server, users):
    login(page, live_server, users.store_email, "not-the-password")
    shot(page, "login-wrong-password")

    assert page.url == f"{live_server.url}/login"
    error = page.locator(".flash-error")
    assert error.inner_text() == "Wrong email or password."
    assert error.get_attribute("role") == "alert"
    assert page.input_value("input[name=email]") == users.store_email


def test_store_user_lands_on_marketplace(page, live_server, users):
    login(page, live_server, users.store_email, users.password)
    shot(page, "store-user-home")

    assert page.url == f"{live_server.url}/store/{users.store_code}/marketplace"
    assert page.locator(".flash-error").count() == 0


def test_admin_lands_on_imports(page, live_server, users):
    login(page, live_server, users.admin_email, users.password)
    shot(page, "admin-home")

    assert page.url == f"{live_server.url}/admin/imports"
    assert page.locator(".flash-error").count() == 0


def test_rq_worker_executes_imports_enqueued_by_the_live_app(live_server, users, rq_worker):
    from webapp.extensions import db
    from webapp.imports.service import create_run, enqueue
    from webapp.models import Run, Store

    feed = live_server.work_dir / "uploads" / "feed.csv"
    feed.parent.mkdir(parents=True, exist_ok=True)
    feed.write_text("id,title,price\nP1,Chair,19.99 EUR\nP2,Table,49 EUR\n")
    with live_server.app.app_context():
        store = db.session.query(Store).filter_by(code=users.store_code).one()
        run_id = enqueue(create_run(store, source_path=str(feed))).id
        deadline = time.monotonic() + 30
        while True:
            db.session.expire_all()
            run = db.session.get(Run, run_id)
            if not run.is_active or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        summary = run.summary()
        db.session.remove()
    assert summary["status"] == "completed", (summary, rq_worker.log.read_text()[-3000:])
    assert summary["imported"] == 2

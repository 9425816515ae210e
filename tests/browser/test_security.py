"""The pages under their Content-Security-Policy, in Chromium.

Every browser test fails on a policy violation (the ``page`` fixture); here: the detector
itself reports what the policy blocks, every page of both roles carries the headers and
loads without a violation, and htmx (polling, triggers with ``from:``, forms) still works
without eval and without inline styles.
"""

from __future__ import annotations

from tests.browser.conftest import login, shot
from webapp.security import CONTENT_SECURITY_POLICY

STORE_PAGES = (
    "/store/acme/marketplace",
    "/store/acme/products",
    "/store/acme/orders",
    "/store/acme/accounts",
    "/store/acme/accounts/new/lengow",
    "/store/acme/settings",
    "/store/acme/feeds",
    "/store/acme/integration/executions",
    "/store/acme/inbox",
    "/account/tokens",
)
ADMIN_PAGES = (
    "/admin/imports",
    "/admin/marketplace",
    "/admin/monitoring",
    "/admin/inbox",
    "/admin/feed-executions",
    "/account/tokens",
)


def test_the_policy_blocks_inline_code_and_eval_and_the_tests_see_it(
    page, live_server, csp_violations
):
    """The negative control: what the page fixture fails a test on is really reported."""
    response = page.goto(f"{live_server.url}/login")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page.evaluate(
        """() => {
          document.head.insertAdjacentHTML("beforeend", "<style>body { color: red }</style>");
          const s = document.createElement("script");
          s.textContent = "window.inlineRan = true";
          document.body.appendChild(s);
        }"""
    )
    # A string the page itself evaluates (a trigger filter or hx-on would be one) is refused:
    # setTimeout with a string runs it from the page's own task, under the policy.
    page.evaluate("() => { setTimeout('window.evalRan = true', 0); }")
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.inlineRan") is None
    assert page.evaluate("() => window.evalRan") is None
    seen = "\n".join(csp_violations)
    assert "style-src" in seen and "script-src" in seen and "eval" in seen, seen
    csp_violations.clear()  # provoked on purpose


def _visit_all(page, live_server, paths) -> None:
    for path in paths:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        headers = response.headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        # htmx is loaded and has run: the error bell loads itself after the page ("load").
        page.locator("#error-bell").wait_for()
        assert page.evaluate("() => htmx.config.allowEval") is False


def test_every_page_of_a_store_user_works_under_the_policy(page, live_server, users):
    login(page, live_server, users.store_email, users.password)
    _visit_all(page, live_server, STORE_PAGES)


def test_every_admin_page_works_under_the_policy(page, live_server, users):
    login(page, live_server, users.admin_email, users.password)
    _visit_all(page, live_server, ADMIN_PAGES)
    shot(page, "security-admin-tokens-under-csp")


def test_htmx_triggers_forms_and_indicator_styles_without_eval_or_inline_style(
    page, live_server, users
):
    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/acme/orders")
    # hx-trigger="input changed delay:400ms from:[name=q], change": typing swaps the list in
    # place and the address bar follows (HX-Replace-Url), no eval involved.
    page.locator("#orders").evaluate("el => { el.dataset.marker = 'old' }")
    page.fill("input[name=q]", "no-such-order")
    page.wait_for_url("**/store/acme/orders?q=no-such-order")
    page.wait_for_function("() => !document.querySelector('#orders').dataset.marker")
    assert "no-such-order" in page.input_value("input[name=q]")
    shot(page, "security-orders-search-under-csp")
    # htmx's indicator rule comes from mercato.css, not from a <style> htmx would insert.
    assert page.locator("style").count() == 0
    opacity = page.evaluate(
        """() => {
          const el = document.createElement("span");
          el.className = "htmx-indicator";
          document.body.appendChild(el);
          return getComputedStyle(el).opacity;
        }"""
    )
    assert opacity == "0"
    # A form posted with htmx (CSRF header from hx-headers, parsed as JSON): a token.
    page.goto(f"{live_server.url}/account/tokens")
    page.fill("input[name=name]", "csp check")
    with page.expect_navigation():
        page.click("form:has(input[name=name]) button[type=submit]")
    token = page.locator("#new-token")
    assert token.input_value().startswith("mct_")
    # Focusing it selects it whole (mercato.js; it was an inline onfocus handler).
    token.focus()
    selected = page.evaluate(
        "() => window.getSelection().toString() || (() => {"
        " const el = document.activeElement;"
        " return el.value.substring(el.selectionStart, el.selectionEnd); })()"
    )
    assert selected == token.input_value()
    shot(page, "security-new-token-selected-under-csp")

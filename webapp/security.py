"""What every response of the web app carries, and which proxies the app believes.

**Headers.** A Content-Security-Policy that allows the app's own scripts, styles, images and
requests and nothing else: no inline script, style or event handler, no ``eval`` (htmx is
configured without it in base.html: no trigger filters, no ``hx-on``, no ``js:`` values;
its indicator styles are in mercato.css instead of an injected ``<style>``), ``data:``
images only (Pico draws its icons with them), never framed. With it: X-Frame-Options (for
browsers without frame-ancestors), X-Content-Type-Options, Referrer-Policy. A route may set
its own value of any of them; these are defaults.

**Proxies.** Behind a reverse proxy (Heroku's router, a load balancer) every request comes
from the proxy's address, and the client's is in X-Forwarded-For. Trusting that header
blindly would let any client choose its address (and escape the per-address login limit);
ignoring it puts every client behind one address (and one client's failed logins lock
everybody out). ``MERCATO_TRUSTED_PROXIES`` says how many proxies stand in front of the
app: Werkzeug's ProxyFix then takes the client address (and the scheme) from exactly that
many hops of X-Forwarded-For (X-Forwarded-Proto), the ones those proxies appended. 0, the
default, trusts no header.

**NUL characters.** No text column can hold one (PostgreSQL refuses it outright), so a
query string or form field carrying one would fail in the database: the pages answer 400
before any view runs. The API checks its own parameters (422, as its document states).
"""

from __future__ import annotations

from flask import Flask, Response, abort, request
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    hops = app.config.get("MERCATO_TRUSTED_PROXIES", 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    @app.before_request
    def _refuse_nul_characters() -> None:
        if request.path.startswith("/api/"):
            return
        fields = [request.args]
        if request.method == "POST" and request.mimetype in FORM_TYPES:
            fields.append(request.form)
        for multidict in fields:
            for key, value in multidict.items(multi=True):
                if NUL in key or NUL in value:
                    abort(400, "The request contains a NUL character, which no field can hold.")

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

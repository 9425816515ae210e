"""Mercato's marketplace sandbox served over real HTTP for a test (one helper for every suite)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.serving import make_server

from sandbox.app import create_sandbox_app

# How often a served test server checks for shutdown(). socketserver's default (0.5 s) made
# every teardown wait half a second after the last request.
SHUTDOWN_POLL_SECONDS = 0.02


def serve_in_thread(server, name: str | None = None) -> threading.Thread:
    """Start ``server.serve_forever`` in a daemon thread that notices ``shutdown()`` fast."""
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
        name=name,
        daemon=True,
    )
    thread.start()
    return thread


@contextmanager
def served_sandbox(orders: int, **config) -> Iterator[str]:
    """A sandbox with ``orders`` orders per account on 127.0.0.1; yields its base URL.

    By default no lifecycle step happens during a test (``SANDBOX_STEP_SECONDS`` one day)
    while tokens expire in real time, as they would."""
    app = create_sandbox_app({"SANDBOX_ORDERS": orders, "SANDBOX_STEP_SECONDS": 86400, **config})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = serve_in_thread(server)
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def sandbox_account(
    app, store, url: str, *, account_id: str = "5622", name: str = "Lengow Menzzo", backoff=0.01
):
    """A live Lengow account of ``store`` on the sandbox at ``url``: the sandbox's address
    allowed, its credentials, and (unless ``backoff`` is None) real retries with short waits."""
    from webapp.accounts import create_account

    app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
    if backoff is not None:
        app.config["MERCATO_CONNECTOR_BACKOFF_BASE"] = backoff
    return create_account(
        store,
        "lengow",
        name,
        settings={"account_id": account_id, "base_url": url},
        secrets={
            "access_token": f"sandbox-access-{account_id}",
            "secret": f"sandbox-secret-{account_id}",
        },
        live=True,
    )

"""The marketplace sandbox, served over real HTTP for the order tests."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from webapp.sandbox.app import create_sandbox_app


@pytest.fixture
def sandbox():
    # Real time (tokens expire as they would), but no lifecycle step during a test.
    app = create_sandbox_app({"SANDBOX_ORDERS": 250, "SANDBOX_STEP_SECONDS": 86400})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    yield url
    server.shutdown()

"""The CodesWholesale fake's own surface: `flask sandbox serve --cw-catalog`, its control
endpoints, and its answers to a request without a valid token (in-process, no HTTP)."""

from __future__ import annotations

from click.testing import CliRunner

from sandbox import sandbox_cli
from sandbox.app import create_sandbox_app
from tests.conftest import real_fixture

DUMP = ("codeswholesale", "cw_products_catalog_dump_2018.csv")


def test_serve_with_the_real_dump(monkeypatch):
    captured = {}

    class FakeServer:
        port = 5050

        def serve_forever(self):
            raise KeyboardInterrupt

        def server_close(self):
            pass

    def fake_make_server(host, port, app, threaded):
        captured["app"] = app
        return FakeServer()

    monkeypatch.setattr("werkzeug.serving.make_server", fake_make_server)
    dump = str(real_fixture(*DUMP))
    result = CliRunner().invoke(sandbox_cli, ["serve", "--orders", "1", "--cw-catalog", dump])
    assert result.exit_code == 0, result.output
    assert "CodesWholesale:" in result.output and "(2383)" in result.output
    assert "client_id=sandbox-cw-client client_secret=sandbox-cw-secret" in result.output
    missing = CliRunner().invoke(sandbox_cli, ["serve", "--cw-catalog", "/nope.csv"])
    assert missing.exit_code == 2


def test_control_and_refusals():
    client = create_sandbox_app({"SANDBOX_ORDERS": 1, "SANDBOX_CW_PRODUCTS": 5}).test_client()
    assert client.post("/_sandbox/codeswholesale/faults", json={"teapot": {}}).status_code == 400
    bad = client.post("/_sandbox/codeswholesale/faults", json={"gone": {"times": 0}})
    assert bad.status_code == 400
    ok = client.post("/_sandbox/codeswholesale/faults", json={"gone": {"times": 2}})
    assert ok.json == {"faults": {"gone": {"times": 2}}}
    assert client.delete("/_sandbox/codeswholesale/faults").json == {"faults": {}}
    # No token, a wrong one, a wrong grant: refused in CodesWholesale's OAuth shape.
    refused = client.get("/v2/products")
    assert refused.status_code == 401 and refused.json["error"] == "invalid_token"
    wrong = client.get("/v2/products", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    grant = client.post("/oauth/token", data={"grant_type": "password"})
    assert grant.status_code == 400
    creds = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert creds.status_code == 401 and creds.json["error"] == "invalid_client"
    assert client.get("/_sandbox/codeswholesale").json["products"] == 5

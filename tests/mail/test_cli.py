"""``flask mail send-test|list|resend``: JSON on the last line, over a real SMTP server."""

from __future__ import annotations

import json

from tests.mail import helpers


def invoke(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    lines = [line for line in result.output.splitlines() if line.strip()]
    return result, [json.loads(line) for line in lines if line.startswith("{")]


def test_send_test_list_and_resend(app, store, smtp_server):
    result, [sent] = invoke(app, "mail", "send-test", "--store", "acme", "--to", "me@acme.test")
    assert result.exit_code == 0, result.output
    assert sent["status"] == "sent" and sent["smtp"] == smtp_server.url.split("?")[0]
    [got] = smtp_server.received
    assert got["Subject"] == "E-mail de test de Acme"  # the store's language (fr)
    helpers.add_templates(store.id)

    result, rows = invoke(app, "mail", "list", "--store", "acme")
    assert rows[-1] == {"shown": 1, "by_status": {"sent": 1}}
    assert rows[0]["id"] == sent["id"] and rows[0]["kind"] == "test"

    result, [again] = invoke(app, "mail", "resend", str(sent["id"]))
    assert again["status"] == "sent" and again["resend_no"] == 1
    assert len(smtp_server.received) == 2


def test_send_test_says_when_it_was_not_sent(app, store):
    app.config["MERCATO_SMTP_URL"] = "smtp://user:hunter2@127.0.0.1:1?timeout=1"
    result, [summary] = invoke(app, "mail", "send-test", "--store", "acme", "--to", "me@a.test")
    assert result.exit_code == 1
    assert summary["status"] == "failed" and "could not connect" in summary["last_error"]
    assert "hunter2" not in result.output and summary["smtp"].startswith("smtp://user:****")
    result, _ = invoke(app, "mail", "send-test", "--store", "acme", "--to", "nobody")
    assert result.exit_code == 1 and "not an e-mail address" in result.output

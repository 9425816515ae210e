from __future__ import annotations

import pytest

from tests.mail.smtp_server import SmtpServer


@pytest.fixture
def smtp_server(app):
    server = SmtpServer().start()
    app.config["MERCATO_SMTP_URL"] = server.url
    app.config["MERCATO_MAIL_FROM"] = "Acme shop <shop@acme.test>"
    yield server
    server.stop()

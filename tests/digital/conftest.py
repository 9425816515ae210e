"""The logged-in clients of the web tests, for the digital pages."""

from tests.mail.conftest import smtp_server  # noqa: F401, E402 - a real SMTP server (aiosmtpd)
from tests.webapp.conftest import (  # noqa: F401
    other_client,
    other_user,
    store_client,
    store_user,
)

"""The logged-in clients of the web tests, for the digital pages."""

from tests.webapp.conftest import (  # noqa: F401
    other_client,
    other_user,
    store_client,
    store_user,
)

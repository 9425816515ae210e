"""The key pool's tests: logged-in clients for its page."""

from __future__ import annotations

from tests.webapp.conftest import (  # noqa: F401  (the logged-in clients)
    admin_client,
    admin_user,
    other_client,
    other_user,
    store_client,
    store_user,
)

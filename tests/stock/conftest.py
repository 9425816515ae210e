"""The marketplace sandbox, served over real HTTP, for the stock tests."""

from __future__ import annotations

import pytest

from tests.sandbox_server import served_sandbox
from tests.webapp.conftest import (  # noqa: F401  (the logged-in clients)
    other_client,
    other_user,
    store_client,
    store_user,
)


@pytest.fixture
def sandbox():
    with served_sandbox(250) as url:
        yield url

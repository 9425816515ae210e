"""The marketplace sandbox, served over real HTTP, for the stock tests."""

from __future__ import annotations

import pytest

from tests.sandbox_server import served_sandbox


@pytest.fixture
def sandbox():
    with served_sandbox(250) as url:
        yield url

"""The pushes' fixtures: the served sandbox, and the logged-in store user of the web tests
(the feeds page's "Run with fix")."""

from collections.abc import Iterator

import pytest

from tests.sandbox_server import served_sandbox
from tests.webapp.conftest import store_client, store_user  # noqa: F401 (fixtures)


@pytest.fixture
def sandbox() -> Iterator[str]:
    with served_sandbox(1) as url:
        yield url

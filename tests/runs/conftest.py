"""The run lifecycle against the marketplace sandbox (real HTTP), real Redis and real RQ."""

from tests.feeds.conftest import account, sandbox  # noqa: F401 (fixtures)
from tests.webapp.conftest import store_user  # noqa: F401 (fixtures)

"""The logged-in store user of the web tests (the feeds page's "Run with fix")."""

from tests.webapp.conftest import store_client, store_user  # noqa: F401 (fixtures)

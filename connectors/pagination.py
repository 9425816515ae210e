"""Walking a marketplace's pages, one list of records per page.

Two shapes cover the connectors we have:

- **Page number with ``next`` links** (Lengow v3, Django REST framework style):
  ``{"count", "next", "previous", "results"}``; ``next`` is an absolute URL or null.
- **GraphQL cursors** (Letzshop): a connection with ``pageInfo {hasNextPage endCursor}`` and
  ``nodes`` or ``edges {node}``, asked again with ``after: endCursor``.

Both stop after ``max_pages`` pages with a ConnectorError instead of looping forever on a
marketplace that keeps answering the same page, and both refuse a page that points back at one
already fetched. A ``next`` link may only stay on the base URL's host: the account's token goes
with every page, so a link to another host is refused (:class:`DestinationRefused`), and the
link's path and query are always sent to the base URL's scheme and port (a proxy that writes
``http://`` links for an https API does not downgrade the connection).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from connectors.errors import ConnectorError, DestinationRefused, RequestRejected, safe_url
from connectors.http import ConnectorHttp

__all__ = ["DEFAULT_MAX_PAGES", "iter_graphql_cursor", "iter_pages_next_link"]

logger = logging.getLogger("mercato.connectors")

DEFAULT_MAX_PAGES = 1000


def _next_url(http: ConnectorHttp, current: str, link: str) -> str:
    """The URL to ask for the page ``link`` names, on the base URL's origin."""
    absolute = urljoin(current, link.strip())
    if not http.same_host(absolute):
        raise DestinationRefused(
            f"the marketplace's next-page link {safe_url(absolute)} leaves "
            f"{safe_url(http.base_url)}: Mercato will not follow it"
        )
    base = urlsplit(http.base_url)
    parts = urlsplit(absolute)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


def iter_pages_next_link(
    http: ConnectorHttp,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    results_key: str = "results",
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Iterator[list[Any]]:
    """Yield each page's ``results`` list, following ``next`` until it is null.

    The first request is ``GET path`` with ``params``; later ones use the ``next`` link as it is
    (it already carries the query). An empty page is yielded too (callers may count pages)."""
    url = http.url_for(path)
    query: Mapping[str, Any] | None = params
    seen: set[str] = set()
    for page_number in range(1, max_pages + 1):
        page = http.request("GET", url, params=query)
        if not isinstance(page, dict) or not isinstance(page.get(results_key), list):
            raise ConnectorError(
                f"page {page_number} of {safe_url(http.url_for(path))} has no '{results_key}' list"
            )
        yield page[results_key]
        link = page.get("next")
        if not link:
            return
        if not isinstance(link, str):
            raise ConnectorError(f"page {page_number} has a 'next' that is not a URL")
        seen.add(http.display_url(url, query))
        url, query = _next_url(http, url, link), None
        if http.display_url(url) in seen:
            raise ConnectorError(
                f"the marketplace's next-page link after page {page_number} points back to a "
                f"page already read ({http.display_url(url)})"
            )
        logger.debug("connector_page_next page=%d url=%s", page_number + 1, http.display_url(url))
    raise ConnectorError(
        f"{safe_url(http.url_for(path))} has more than {max_pages} pages: stopped there"
    )


def _dig(payload: Any, path: Sequence[str]) -> Any:
    node = payload
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _graphql_errors(payload: Any) -> str | None:
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not errors:
        return None
    if isinstance(errors, list):
        texts = [
            str(e.get("message")) if isinstance(e, dict) and e.get("message") else str(e)
            for e in errors[:3]
        ]
        return "; ".join(texts)
    return str(errors)


def iter_graphql_cursor(
    http: ConnectorHttp,
    url: str,
    query: str,
    variables: Mapping[str, Any] | None,
    path_to_connection: Sequence[str] | str,
    *,
    cursor_variable: str = "after",
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Iterator[list[Any]]:
    """Yield each page's nodes from the connection at ``path_to_connection`` (a dotted string
    or a sequence of keys under the response, e.g. ``"data.orders"``), asking for the next page
    with ``variables[cursor_variable] = pageInfo.endCursor`` while ``hasNextPage`` is true.

    A response with ``errors`` is a :class:`RequestRejected` carrying the GraphQL messages (the
    HTTP status is 200, so the HTTP layer cannot see it)."""
    keys = (
        path_to_connection.split(".")
        if isinstance(path_to_connection, str)
        else list(path_to_connection)
    )
    if keys and keys[0] != "data":
        keys = ["data", *keys]
    current = dict(variables or {})
    seen: set[str] = set()
    for page_number in range(1, max_pages + 1):
        payload = http.request(
            "POST", url, json={"query": query, "variables": current}, idempotent=True
        )
        problem = _graphql_errors(payload)
        if problem:
            raise RequestRejected(
                f"the GraphQL query at {safe_url(http.url_for(url))} failed: "
                f"{http.redact_text(problem)[:300]}"
            )
        connection = _dig(payload, keys)
        if not isinstance(connection, dict):
            raise ConnectorError(
                f"page {page_number} of the GraphQL query has no connection at {'.'.join(keys)}"
            )
        if isinstance(connection.get("nodes"), list):
            nodes = connection["nodes"]
        elif isinstance(connection.get("edges"), list):
            nodes = [edge.get("node") for edge in connection["edges"] if isinstance(edge, dict)]
        else:
            nodes = []
        yield nodes
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return
        cursor = info.get("endCursor")
        if not cursor:
            raise ConnectorError(
                f"page {page_number} of the GraphQL query says there is a next page but gives "
                "no endCursor"
            )
        if cursor in seen:
            raise ConnectorError(
                f"the GraphQL cursor after page {page_number} repeats an earlier one"
            )
        seen.add(cursor)
        current[cursor_variable] = cursor
    raise ConnectorError(f"the GraphQL query has more than {max_pages} pages: stopped there")

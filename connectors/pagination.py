"""Walking a marketplace's pages, one list of records per page: a paginator per shape.

Each paginator is an iterable of pages (lists) built from a :class:`ConnectorHttp`, the first
request and the shape's few names. The shapes:

- :class:`PageNumberPaginator`: ``?page=1,2,...`` until a short or empty page.
- :class:`NextLinkPaginator` (Lengow v3, Django REST framework style): ``{"count", "next",
  "previous", "results"}``; ``next`` is an absolute URL or null.
- :class:`CursorPaginator` (Letzshop, GraphQL): a connection with ``pageInfo {hasNextPage
  endCursor}`` and ``nodes`` or ``edges {node}``, asked again with ``after: endCursor``.
- :class:`OffsetPaginator`: ``?offset=0&limit=N``, then ``offset=N``... until a short page.
- :class:`NextTokenPaginator` (Amazon SP-API style): the records and a ``NextToken``; the next
  request sends only the token.

Every paginator stops after ``max_pages`` pages with a ConnectorError instead of looping
forever on a marketplace that keeps answering the same page, and refuses a page that points
back at one already fetched. A ``next`` link may only stay on the base URL's host: the account's
token goes with every page, so a link to another host is refused (:class:`DestinationRefused`),
and the link's path and query are always sent to the base URL's scheme and port (a proxy that
writes ``http://`` links for an https API does not downgrade the connection).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from connectors.errors import ConnectorError, DestinationRefused, RequestRejected, safe_url
from connectors.http import ConnectorHttp

__all__ = [
    "DEFAULT_MAX_PAGES",
    "CursorPaginator",
    "NextLinkPaginator",
    "NextTokenPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "Paginator",
    "iter_graphql_cursor",
    "iter_pages_next_link",
]

logger = logging.getLogger("mercato.connectors")

DEFAULT_MAX_PAGES = 1000


def _dig(payload: Any, path: Sequence[str]) -> Any:
    node = payload
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _keys(path: Sequence[str] | str) -> list[str]:
    return path.split(".") if isinstance(path, str) else list(path)


class Paginator:
    """Base of the paginators: iterate it for the pages. ``max_pages`` bounds the walk."""

    def __init__(self, http: ConnectorHttp, *, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self.http = http
        self.max_pages = max_pages

    def pages(self) -> Iterator[list[Any]]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[Any]]:
        return self.pages()

    def _too_many(self, what: str) -> ConnectorError:
        return ConnectorError(f"{what} has more than {self.max_pages} pages: stopped there")

    def _records(self, payload: Any, keys: Sequence[str], page_number: int, what: str) -> list:
        records = _dig(payload, keys)
        if not isinstance(records, list):
            raise ConnectorError(f"page {page_number} of {what} has no '{'.'.join(keys)}' list")
        return records


class _GetPaginator(Paginator):
    """A GET of ``path`` with query ``params`` and the records at ``results_key``."""

    def __init__(
        self,
        http: ConnectorHttp,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        results_key: Sequence[str] | str = "results",
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        super().__init__(http, max_pages=max_pages)
        self.path = path
        self.params = dict(params or {})
        self.results_key = _keys(results_key)

    @property
    def _what(self) -> str:
        return safe_url(self.http.url_for(self.path))


class PageNumberPaginator(_GetPaginator):
    """``page`` = 1, 2, ... with ``page_size`` records asked; a page with fewer ends the walk.
    An API that pages past the end with an empty page ends it too."""

    def __init__(
        self,
        http: ConnectorHttp,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int = 100,
        page_param: str = "page",
        size_param: str = "page_size",
        first_page: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(http, path, params, **kwargs)
        self.page_size, self.page_param, self.size_param = page_size, page_param, size_param
        self.first_page = first_page

    def pages(self) -> Iterator[list[Any]]:
        for n in range(self.max_pages):
            query = {
                **self.params,
                self.page_param: self.first_page + n,
                self.size_param: self.page_size,
            }
            page = self._records(
                self.http.get(self.path, params=query), self.results_key, n + 1, self._what
            )
            yield page
            if len(page) < self.page_size:
                return
        raise self._too_many(self._what)


class OffsetPaginator(_GetPaginator):
    """``offset`` = 0, limit, 2 * limit ... with ``limit`` records asked; a short page ends it."""

    def __init__(
        self,
        http: ConnectorHttp,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        limit: int = 100,
        offset_param: str = "offset",
        limit_param: str = "limit",
        **kwargs: Any,
    ) -> None:
        super().__init__(http, path, params, **kwargs)
        self.limit, self.offset_param, self.limit_param = limit, offset_param, limit_param

    def pages(self) -> Iterator[list[Any]]:
        offset = 0
        for n in range(self.max_pages):
            query = {**self.params, self.offset_param: offset, self.limit_param: self.limit}
            page = self._records(
                self.http.get(self.path, params=query), self.results_key, n + 1, self._what
            )
            yield page
            if len(page) < self.limit:
                return
            offset += len(page)
        raise self._too_many(self._what)


class NextLinkPaginator(_GetPaginator):
    """Each page's ``results``, following ``next`` until it is null.

    The first request is ``GET path`` with ``params``; later ones use the ``next`` link as it is
    (it already carries the query). An empty page is yielded too (callers may count pages)."""

    def _next_url(self, current: str, link: str) -> str:
        """The URL to ask for the page ``link`` names, on the base URL's origin."""
        http = self.http
        absolute = urljoin(current, link.strip())
        if not http.same_host(absolute):
            raise DestinationRefused(
                f"the marketplace's next-page link {safe_url(absolute)} leaves "
                f"{safe_url(http.base_url)}: Mercato will not follow it"
            )
        base = urlsplit(http.base_url)
        parts = urlsplit(absolute)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    def pages(self) -> Iterator[list[Any]]:
        http = self.http
        url = http.url_for(self.path)
        query: Mapping[str, Any] | None = self.params or None
        seen: set[str] = set()
        key = ".".join(self.results_key)
        for page_number in range(1, self.max_pages + 1):
            page = http.request("GET", url, params=query)
            records = _dig(page, self.results_key)
            if not isinstance(page, dict) or not isinstance(records, list):
                raise ConnectorError(f"page {page_number} of {self._what} has no '{key}' list")
            yield records
            link = page.get("next")
            if not link:
                return
            if not isinstance(link, str):
                raise ConnectorError(f"page {page_number} has a 'next' that is not a URL")
            seen.add(http.display_url(url, query))
            url, query = self._next_url(url, link), None
            if http.display_url(url) in seen:
                raise ConnectorError(
                    f"the marketplace's next-page link after page {page_number} points back to "
                    f"a page already read ({http.display_url(url)})"
                )
            logger.debug(
                "connector_page_next page=%d url=%s", page_number + 1, http.display_url(url)
            )
        raise self._too_many(self._what)


class NextTokenPaginator(_GetPaginator):
    """The records at ``results_key`` and a token at ``token_key`` (e.g. SP-API's
    ``payload.Orders`` and ``payload.NextToken``); the next request sends ``token_param`` =
    the token and nothing else of the first query (SP-API refuses the filters beside it)."""

    def __init__(
        self,
        http: ConnectorHttp,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        token_key: Sequence[str] | str = "NextToken",  # noqa: S107 - a key name
        token_param: str = "NextToken",  # noqa: S107 - a parameter name
        keep_params: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(http, path, params, **kwargs)
        self.token_key, self.token_param = _keys(token_key), token_param
        self.keep_params = tuple(keep_params)  # sent with every page (e.g. MarketplaceIds)

    def pages(self) -> Iterator[list[Any]]:
        query: dict[str, Any] = dict(self.params)
        seen: set[str] = set()
        for page_number in range(1, self.max_pages + 1):
            payload = self.http.get(self.path, params=query)
            yield self._records(payload, self.results_key, page_number, self._what)
            token = _dig(payload, self.token_key)
            if not token:
                return
            if token in seen:
                raise ConnectorError(
                    f"the next-page token after page {page_number} repeats an earlier one"
                )
            seen.add(token)
            query = {k: self.params[k] for k in self.keep_params if k in self.params}
            query[self.token_param] = token
        raise self._too_many(self._what)


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


class CursorPaginator(Paginator):
    """Each page's nodes from the GraphQL connection at ``path_to_connection`` (a dotted string
    or a sequence of keys under the response, e.g. ``"data.orders"``), asking for the next page
    with ``variables[cursor_variable] = pageInfo.endCursor`` while ``hasNextPage`` is true.

    A response with ``errors`` is a :class:`RequestRejected` carrying the GraphQL messages (the
    HTTP status is 200, so the HTTP layer cannot see it)."""

    def __init__(
        self,
        http: ConnectorHttp,
        url: str,
        query: str,
        variables: Mapping[str, Any] | None,
        path_to_connection: Sequence[str] | str,
        *,
        cursor_variable: str = "after",
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        super().__init__(http, max_pages=max_pages)
        keys = _keys(path_to_connection)
        self.keys = ["data", *keys] if keys and keys[0] != "data" else keys
        self.url, self.query, self.variables = url, query, dict(variables or {})
        self.cursor_variable = cursor_variable

    def pages(self) -> Iterator[list[Any]]:
        http, keys = self.http, self.keys
        current = dict(self.variables)
        seen: set[str] = set()
        for page_number in range(1, self.max_pages + 1):
            payload = http.request(
                "POST", self.url, json={"query": self.query, "variables": current}, idempotent=True
            )
            problem = _graphql_errors(payload)
            if problem:
                raise RequestRejected(
                    f"the GraphQL query at {safe_url(http.url_for(self.url))} failed: "
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
                nodes = [e.get("node") for e in connection["edges"] if isinstance(e, dict)]
            else:
                nodes = []
            yield nodes
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            cursor = info.get("endCursor")
            if not cursor:
                raise ConnectorError(
                    f"page {page_number} of the GraphQL query says there is a next page but "
                    "gives no endCursor"
                )
            if cursor in seen:
                raise ConnectorError(
                    f"the GraphQL cursor after page {page_number} repeats an earlier one"
                )
            seen.add(cursor)
            current[self.cursor_variable] = cursor
        raise self._too_many("the GraphQL query")


def iter_pages_next_link(http: ConnectorHttp, path: str, params=None, **kwargs: Any):
    """:class:`NextLinkPaginator`'s pages (the name the paginators replaced)."""
    return iter(NextLinkPaginator(http, path, params, **kwargs))


def iter_graphql_cursor(http: ConnectorHttp, url: str, query: str, variables, path, **kwargs):
    """:class:`CursorPaginator`'s pages (the name the paginators replaced)."""
    return iter(CursorPaginator(http, url, query, variables, path, **kwargs))

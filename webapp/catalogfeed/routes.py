"""The public catalog feed (``/feeds/catalog/<token>[.csv|.xml]``, no login: the token is the
secret) and the account page's actions on it (rotate, format).

A fetch is answered from a stream: the rows are read from a server-side cursor and written out
as they come, gzip-compressed on the fly when the client accepts it. ETag and Last-Modified
come from cheap aggregates (``content.version``), and a repeat with a matching
If-None-Match / If-Modified-Since gets 304 without a row being read. Every answer for a known
token is recorded (``catalog_feed_fetches``) once the stream has ended, from the generator's
``finally``: rows, bytes, duration, and whether the client read to the end.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterator
from datetime import UTC
from email.utils import format_datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_required
from redis.exceptions import RedisError

from webapp import catalogfeed
from webapp.access import store_or_404
from webapp.catalogfeed import content
from webapp.extensions import db, redis_connection
from webapp.htmx import is_htmx
from webapp.models import Account
from webapp.models.catalog_feed import FEED_FORMATS

log = logging.getLogger(__name__)
bp = Blueprint("catalogfeed", __name__)

DEFAULT_RATE_PER_MINUTE = 60
FLUSH_ROWS = 200  # about 100 KiB of CSV a piece
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "xml": "application/rss+xml; charset=utf-8"}


def _rate_limited(feed_key: str) -> int | None:
    """Seconds to wait when this feed was fetched too often this minute, else None. A hub
    reads a feed a few times an hour; a loop hammering one URL is refused (429). Redis down:
    let through (a read should not fail because the limiter is)."""
    limit = int(
        current_app.config.get("MERCATO_CATALOG_FEED_RATE_PER_MINUTE", DEFAULT_RATE_PER_MINUTE)
    )
    if limit <= 0:
        return None
    now = time.time()
    window = int(now // 60)
    prefix = current_app.config.get("MERCATO_QUEUE_PREFIX", "")
    key = f"{prefix}mercato:catalogfeed:rate:{feed_key}:{window}"
    try:
        pipe = redis_connection().pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count = int(pipe.execute()[0])
    except RedisError:
        log.warning("catalog feed rate limiter unavailable; fetch let through", exc_info=True)
        return None
    if count > limit:
        return max(1, (window + 1) * 60 - int(now))
    return None


def _http_date(value) -> str:
    return format_datetime(value.replace(tzinfo=UTC, microsecond=0), usegmt=True)


def _not_modified(version: content.Version) -> bool:
    if request.if_none_match:
        return request.if_none_match.contains(version.etag.strip('"'))
    since = request.if_modified_since
    if since is not None and version.last_modified is not None:
        return version.last_modified.replace(microsecond=0, tzinfo=UTC) <= since
    return False


def _who() -> dict:
    return {
        "ip": (request.remote_addr or "")[:64] or None,
        "user_agent": (request.user_agent.string or "")[:255] or None,
    }


def _chunks(account: Account, store, fmt: str, language) -> Iterator[tuple[str, int]]:
    """(text, rows so far) pieces of FLUSH_ROWS rows."""
    rows = 0
    if fmt == "csv":
        lines = content.iter_csv(account, store, language)
        out = [next(lines)]  # the header
    else:
        records = content.iter_rows(account, store, language)
        lines = (content.xml_item(cells) for cells in records)
        out = [content.xml_head(store)]
    try:
        for line in lines:
            out.append(line)
            rows += 1
            if rows % FLUSH_ROWS == 0:
                yield "".join(out), rows
                out.clear()
    finally:
        lines.close()
        if fmt != "csv":
            records.close()
    if fmt != "csv":
        out.append(content.XML_TAIL)
    yield "".join(out), rows


@bp.get("/feeds/catalog/<token>", defaults={"fmt": None})
@bp.get("/feeds/catalog/<token>.<any(csv, xml):fmt>")
def feed(token: str, fmt: str | None):
    # Read for as long as the hub reads, before the first statement opens the transaction.
    g.statement_timeout_exempt = True
    found = catalogfeed.lookup(token)
    if found is None:
        abort(404)
    feed_row, account = found
    fmt = fmt or feed_row.format
    wait = _rate_limited(feed_row.token_hash[:16])
    if wait is not None:
        response = Response(f"Too many fetches of this feed; retry in {wait} s.\n", 429)
        response.headers["Retry-After"] = str(wait)
        response.mimetype = "text/plain"
        return response
    started = time.monotonic()
    language = feed_row.language
    version = content.version(account, fmt, feed_row.token_hash, language)
    use_gzip = "gzip" in request.accept_encodings
    if use_gzip:  # another representation, another tag (RFC 9110 8.8.3)
        version = content.Version(version.etag[:-1] + '-gz"', version.last_modified)
    headers = {
        "ETag": version.etag,
        "Cache-Control": "private, no-cache",
        "Vary": "Accept-Encoding",
        "X-Robots-Tag": "noindex",
    }
    if version.last_modified is not None:
        headers["Last-Modified"] = _http_date(version.last_modified)
    who = _who()
    account_id, store = account.id, account.store
    if _not_modified(version):
        catalogfeed.record_fetch(
            account_id,
            format=fmt,
            status=304,
            duration_ms=int((time.monotonic() - started) * 1000),
            **who,
        )
        return Response(status=304, headers=headers)

    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    headers["Content-Disposition"] = f'inline; filename="catalog-{account_id}.{fmt}"'

    def generate():
        sent = 0
        rows = 0
        complete = False
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if use_gzip else None
        try:
            for text, rows_so_far in _chunks(account, store, fmt, language):
                rows = rows_so_far
                data = text.encode("utf-8")
                if compressor is not None:
                    data = compressor.compress(data)
                if data:
                    sent += len(data)
                    yield data
            if compressor is not None:
                data = compressor.flush()
                sent += len(data)
                yield data
            complete = True
        finally:
            try:
                catalogfeed.record_fetch(
                    account_id,
                    format=fmt,
                    status=200,
                    complete=complete,
                    gzip=use_gzip,
                    rows=rows,
                    bytes=sent,
                    duration_ms=int((time.monotonic() - started) * 1000),
                    **who,
                )
            except Exception:  # the answer is gone already; say it in the log
                log.exception("catalog feed fetch of account %s not recorded", account_id)

    return Response(
        stream_with_context(generate()), 200, headers=headers, content_type=MEDIA_TYPES[fmt]
    )


# -- the account page's actions ------------------------------------------------------------


def _account_or_404(code: str, account_id: int) -> Account:
    store = store_or_404(code)
    account = db.session.get(Account, account_id)
    if account is None or account.store_id != store.id:
        abort(404)
    return account


@bp.post("/store/<code>/accounts/<int:account_id>/catalog-feed/rotate")
@login_required
def rotate(code: str, account_id: int):
    account = _account_or_404(code, account_id)
    if account.is_retired:
        abort(404)
    catalogfeed.rotate(account, current_user.email)
    flash("New catalog feed URL: the old one is refused from now on. Give the hub the new one.")
    page = url_for("accounts.account", code=code, account_id=account.id)
    if is_htmx():  # the confirmed button: the whole page again (a fragment would not reload)
        return Response(status=204, headers={"HX-Redirect": page})
    return redirect(page + "#catalog-feed")


@bp.post("/store/<code>/accounts/<int:account_id>/catalog-feed/format")
@login_required
def set_format(code: str, account_id: int):
    account = _account_or_404(code, account_id)
    fmt = request.form.get("format", "")
    language = request.form.get("language", "")
    if fmt not in FEED_FORMATS or language not in ("", *content.LANGUAGES):
        abort(400)
    catalogfeed.set_format(account, fmt, language or None)
    flash("Catalog feed settings saved.")
    return redirect(url_for("accounts.account", code=code, account_id=account.id) + "#catalog-feed")

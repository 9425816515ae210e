"""Back-office pages against a year of imports: history, monitoring, a job's errors, stats.

    python -m bench.back_office [--jobs 100000] [--errors 1000000] [--stores 20]
                                [--requests 50] [--pg-url URL] [--keep] [--reuse]
                                [--explain] [--no-vacuum] [--out FILE]

Target from the issue: with 100,000 import jobs and 1,000,000 error rows in PostgreSQL,
the history page, the monitoring page, one page of a job's errors and the stats endpoint
each answer in under 50 ms at the median, measured through the app.

The PostgreSQL database (``--pg-url``, its name must start with ``mercato_bench_bo``) is
created fresh and built by the Alembic revisions.  The data is written with COPY, not
the ORM:

* ``--stores`` stores; the first ("big") holds half of the jobs, the others share the rest;
* a store user of the big store and an admin (who created about 30% of the jobs);
* ``--jobs`` product-import jobs over the last year, ids in creation order, mostly
  completed or completed with errors, some failed or abandoned, the newest few pending
  or processing, with counts that agree with their messages;
* ``--errors`` messages with a heavy-tailed spread: most jobs have none, a few have
  thousands, and one job of the big store has 50,000 (the one the errors pages read),
  each with a ~10-key ``row_data``.

Then VACUUM ANALYZE, as autovacuum does to an insert-mostly table in production
(``--no-vacuum``: ANALYZE only, the state right after a bulk load).
Each target is requested through the Flask test client, logged in (CSRF on) as the
store user, the admin, or with the admin's API token: 3 warm-up requests, then
``--requests`` timed ones.  The table gives median, p90 and max in ms, the SQL statements
per request and the time spent in them, and PASS/FAIL against 50 ms at the median; the
figures are printed and written as JSON to ``--out``, never asserted.  ``--explain``
also prints EXPLAIN (ANALYZE, BUFFERS) of every statement one request of each target runs.

The login throttle and the API rate limiter need Redis: run it as ``make bench`` does,
``MERCATO_ENV=test scripts/with-redis.sh --fresh .venv/bin/python -m bench.back_office``.
The database is dropped at the end unless ``--keep``; ``--reuse`` measures a kept one
again without loading (after a schema or query change, say).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.import_feed import (
    dbname,
    libpq_url,
    migrate,
    pg_drop,
    pg_recreate,
    safe_url,
    sqlalchemy_url,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/mercato_bench_bo"
DEFAULT_OUT = ROOT / "bench" / "out" / "back_office.json"
PG_DB_PREFIX = "mercato_bench_bo"
TARGET_MS = 50.0
WARMUP = 3
SEED = 20261122

BIG_STORE_CODE = "big-store"
PASSWORD = "bench-password-123"  # noqa: S105  (a throwaway benchmark login)
STORE_USER_EMAIL = "shop@big-store.bench"
ADMIN_EMAIL = "admin@mercato.bench"
BIG_JOB_ERRORS = 50_000
HISTORY_PER_PAGE = 20  # webapp.store.routes.HISTORY_PER_PAGE
ERRORS_PER_PAGE = 25  # webapp.store.routes.ERRORS_PER_PAGE

STATUS_WEIGHTS = {
    "completed": 72,
    "completed_with_errors": 19,
    "failed": 7,
    "abandoned": 2,
}
ACTIVE_NEWEST = 12  # the newest jobs are still pending or processing
MARKETPLACES = (("Letzshop", 85), ("Google Shopping", 10), ("Shopify", 5))
TRIGGERS = (("schedule", 40), ("ui", 40), ("api", 15), ("cli", 3), ("retry", 2))
ERROR_TYPES = (
    ("invalid_price", 30),
    ("missing_title", 20),
    ("invalid_gtin", 15),
    ("missing_image", 12),
    ("invalid_availability", 8),
    ("duplicate_id", 6),
    ("invalid_url", 5),
    ("description_too_long", 4),
)
FILTER_ERROR_TYPE = "invalid_gtin"  # the errors page's type filter in the targets
MESSAGES = {
    "invalid_price": "price '{v}' is not a number followed by a currency",
    "missing_title": "title is empty in every language",
    "invalid_gtin": "gtin '{v}' has a wrong check digit",
    "missing_image": "image_link is empty",
    "invalid_availability": "availability '{v}' is not one of in stock, out of stock, preorder",
    "duplicate_id": "id '{v}' appears more than once in the feed",
    "invalid_url": "link '{v}' is not an http(s) URL",
    "description_too_long": "description is longer than 5000 characters; it was cut",
}
FILE_ERRORS = (
    ("download_failed", "the feed server answered 503 Service Unavailable"),
    ("parse_error", "line 1: the header has no 'id' column"),
)
BRANDS = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka")
WORDS = (
    "cotton shirt blue red green linen dress wool sweater leather bag steel watch "
    "ceramic mug oak table lamp desk chair garden hose kitchen knife travel mug"
).split()


def weighted(pairs):
    values = [v for v, _ in pairs]
    cum, total = [], 0
    for _, w in pairs:
        total += w
        cum.append(total)
    return values, cum


# -- data ---------------------------------------------------------------------------------


@dataclass
class Dataset:
    stores: int
    big_store_id: int = 1
    store_user_id: int = 1
    admin_id: int = 2
    big_job_id: int = 0
    jobs: int = 0
    messages: int = 0
    big_store_jobs: int = 0
    admin_jobs: int = 0
    status_counts: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def copy_rows(cur, table: str, columns: list[str], rows) -> int:
    """COPY ``rows`` (tuples, None for NULL) into ``table``; returns the row count."""
    n = 0
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def error_budget(rng: random.Random, jobs: list[dict], total: int, big_job: dict) -> None:
    """Give each job its number of messages: heavy-tailed, ``total`` in all.

    Failed jobs get one file-level message, the big job 50,000, and the jobs that completed
    with errors share the rest (Pareto weights, so most have a few dozen, some thousands).
    """
    for job in jobs:
        job["n_messages"] = 1 if job["status"] == "failed" else 0
    big = min(BIG_JOB_ERRORS, total)
    big_job["n_messages"] = big
    rest = total - big - sum(j["n_messages"] for j in jobs if j is not big_job)
    carriers = [j for j in jobs if j["status"] == "completed_with_errors" and j is not big_job]
    if rest <= 0 or not carriers:
        return
    weights = [rng.paretovariate(1.16) for _ in carriers]
    scale = rest / sum(weights)
    cap = BIG_JOB_ERRORS // 2
    given = 0
    for job, w in zip(carriers, weights, strict=True):
        job["n_messages"] = max(1, min(cap, int(w * scale)))
        given += job["n_messages"]
    # Settle the rounding so the total is exact.
    i = 0
    while given != rest and i < 10 * len(carriers):
        job = carriers[rng.randrange(len(carriers))]
        if given < rest and job["n_messages"] < cap:
            step = min(rest - given, cap - job["n_messages"], 500)
            job["n_messages"] += step
            given += step
        elif given > rest and job["n_messages"] > 1:
            step = min(given - rest, job["n_messages"] - 1, 500)
            job["n_messages"] -= step
            given -= step
        i += 1


def split_severities(rng: random.Random, jobs: list[dict]) -> None:
    """How many of each job's messages are errors, warnings and infos (about 70/26/4)."""
    for job in jobs:
        n = job["n_messages"]
        if job["status"] == "failed":
            job["n_errors"], job["n_warnings"], job["n_infos"] = n, 0, 0
            continue
        errors = min(n, round(n * rng.uniform(0.6, 0.8)))
        warnings = round((n - errors) * 0.87)
        job["n_errors"], job["n_warnings"], job["n_infos"] = errors, warnings, n - errors - warnings


def build_jobs(rng: random.Random, args, ds: Dataset, now: datetime) -> list[dict]:
    statuses, status_cum = weighted(STATUS_WEIGHTS.items())
    markets, market_cum = weighted(MARKETPLACES)
    triggers, trigger_cum = weighted(TRIGGERS)
    year = timedelta(days=365).total_seconds()
    first = now - timedelta(days=365)
    jobs = []
    for i in range(1, args.jobs + 1):
        big = rng.random() < 0.5 or args.stores == 1
        store_id = ds.big_store_id if big else rng.randint(2, args.stores)
        created = first + timedelta(seconds=year * (i - 1) / args.jobs + rng.uniform(0, 20))
        if i > args.jobs - ACTIVE_NEWEST:
            status = "processing" if i % 2 else "pending"
        else:
            status = rng.choices(statuses, cum_weights=status_cum)[0]
        trigger = rng.choices(triggers, cum_weights=trigger_cum)[0]
        jobs.append(
            {
                "id": i,
                "store_id": store_id,
                "status": status,
                "created": created,
                "trigger": trigger,
                "marketplace": rng.choices(markets, cum_weights=market_cum)[0],
                "language": rng.choice(("fr", "en", "de")),
                "user_id": ds.admin_id if rng.random() < 0.3 else None,
                "total": int(min(400_000, rng.lognormvariate(8.5, 1.2))),
            }
        )
    # The job whose errors the benchmark pages through: a recent one of the big store.
    candidates = [
        j
        for j in jobs[-max(1, args.jobs // 50) :]
        if j["store_id"] == ds.big_store_id and j["status"] not in ("pending", "processing")
    ] or [j for j in jobs if j["store_id"] == ds.big_store_id]
    big_job = candidates[len(candidates) // 2]
    big_job["status"] = "completed_with_errors"
    big_job["total"] = max(big_job["total"], 4 * BIG_JOB_ERRORS)
    ds.big_job_id = big_job["id"]
    error_budget(rng, jobs, args.errors, big_job)
    split_severities(rng, jobs)
    return jobs


def job_row(rng: random.Random, job: dict, store_codes: dict, now: datetime) -> tuple:
    status, created = job["status"], job["created"]
    total = job["total"] if status not in ("failed", "pending") else 0
    started = None if status == "pending" else created + timedelta(seconds=rng.uniform(0.5, 30))
    completed = None
    if status in STATUS_WEIGHTS and started is not None:
        completed = started + timedelta(seconds=2 + total / rng.uniform(4_000, 20_000))
    if status == "processing":
        total = job["total"] // 3
    errors, warnings = job["n_errors"], job["n_warnings"]
    imported = rng.randint(0, total // 10) if total else 0
    updated = rng.randint(0, (total - imported) // 3) if total else 0
    unchanged = max(0, total - imported - updated - errors)
    code = store_codes[job["store_id"]]
    if job["trigger"] == "ui" and rng.random() < 0.5:
        source_url, source_name = None, f"{code}-products-{job['language']}.csv"
        source_path = f"/app/instance/work/uploads/{job['id']}.csv"
    else:
        source_url = f"https://feeds.example.com/{code}/products_{job['language']}.csv"
        source_name = source_path = None
    phase = {"processing": "upserting"}.get(status)
    progress = {"processing": 35, "pending": 0}.get(status, 100)
    error_message = None
    if status == "failed":
        error_message = FILE_ERRORS[job["id"] % 2][1]
    elif status == "abandoned":
        error_message = "the worker stopped answering; the job was abandoned"
    updated_at = completed or started or created
    return (
        job["id"],
        "product_import",
        job["store_id"],
        job["user_id"],
        job["trigger"],
        job["marketplace"],
        job["language"],
        1000,
        source_url,
        source_path,
        source_name,
        status,
        phase,
        progress,
        f"rq-{job['id']:08d}" if status != "abandoned" else None,
        error_message,
        imported,
        updated,
        unchanged,
        errors,
        warnings,
        total,
        started,
        completed,
        created,
        updated_at,
    )


JOB_COLUMNS = [
    "id",
    "kind",
    "store_id",
    "user_id",
    "trigger",
    "marketplace",
    "language",
    "batch_size",
    "source_url",
    "source_path",
    "source_name",
    "status",
    "phase",
    "progress",
    "rq_job_id",
    "error_message",
    "imported_count",
    "updated_count",
    "unchanged_count",
    "error_count",
    "warning_count",
    "total_processed",
    "started_at",
    "completed_at",
    "created_at",
    "updated_at",
]
MESSAGE_COLUMNS = [
    "id",
    "import_job_id",
    "severity",
    "error_type",
    "row_number",
    "identifier",
    "error_message",
    "row_data",
    "created_at",
]


def message_rows(rng: random.Random, jobs: list[dict]):
    """Every job's messages, in job order then file order (as imports write them)."""
    types, type_cum = weighted(ERROR_TYPES)
    msg_id = 0
    for job in jobs:
        n = job["n_messages"]
        if not n:
            continue
        when = job["created"] + timedelta(seconds=30)
        if job["status"] == "failed":
            kind, text = FILE_ERRORS[job["id"] % 2]
            msg_id += 1
            yield (msg_id, job["id"], "error", kind, None, None, text, None, when)
            continue
        severities = (
            ["error"] * job["n_errors"]
            + ["warning"] * job["n_warnings"]
            + ["info"] * job["n_infos"]
        )
        rng.shuffle(severities)
        # Rows in file order; about one in ten rows has two messages.
        max_gap = max(1, 2 * job["total"] // max(n, 1) - 1)
        row = 1
        for severity in severities:
            if rng.random() >= 0.1:
                row += rng.randint(1, max_gap)
            kind = rng.choices(types, cum_weights=type_cum)[0]
            sku = f"SKU-{job['store_id']:03d}-{row:07d}"
            value = {
                "invalid_price": f"{rng.randint(1, 999)},{rng.randint(0, 99)} euros",
                "invalid_gtin": f"{rng.randrange(10**12, 10**13)}",
                "invalid_availability": "maybe",
                "duplicate_id": sku,
                "invalid_url": f"shop.example.com/p/{row}",
            }.get(kind, "")
            w1, w2, w3 = rng.choice(WORDS), rng.choice(WORDS), rng.choice(WORDS)
            row_data = {
                "id": sku,
                "title": f"{w1.title()} {w2} {w3}",
                "description": f"A {w1} {w2} made to last, with a {w3} finish. Ships in 2 days.",
                "price": value if kind == "invalid_price" else f"{rng.randint(3, 400)}.99 EUR",
                "availability": value if kind == "invalid_availability" else "in stock",
                "brand": rng.choice(BRANDS),
                "gtin": value if kind == "invalid_gtin" else f"{rng.randrange(10**12, 10**13)}",
                "link": value if kind == "invalid_url" else f"https://shop.example.com/p/{row}",
                "image_link": ""
                if kind == "missing_image"
                else f"https://cdn.example.com/{row}.jpg",
                "condition": "new",
            }
            msg_id += 1
            yield (
                msg_id,
                job["id"],
                severity,
                kind,
                row,
                sku,
                MESSAGES[kind].format(v=value),
                json.dumps(row_data),
                when + timedelta(milliseconds=row),
            )


def load(args, pg_url: str) -> Dataset:
    """Stores, users, jobs and messages with COPY; then the sequences and VACUUM ANALYZE."""
    import psycopg
    from werkzeug.security import generate_password_hash

    rng = random.Random(SEED)
    now = datetime.now(UTC).replace(tzinfo=None)
    ds = Dataset(stores=args.stores)
    store_codes = {1: BIG_STORE_CODE} | {i: f"store-{i:03d}" for i in range(2, args.stores + 1)}
    jobs = build_jobs(rng, args, ds, now)
    password_hash = generate_password_hash(PASSWORD)
    with psycopg.connect(libpq_url(pg_url)) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        copy_rows(
            cur,
            "stores",
            ["id", "code", "name", "default_language", "is_active", "created_at", "updated_at"],
            (
                (i, code, "Big Store" if i == 1 else f"Store {i:03d}", "fr", True, now, now)
                for i, code in store_codes.items()
            ),
        )
        copy_rows(
            cur,
            "users",
            ["id", "email", "password_hash", "is_admin", "store_id", "is_active"]
            + ["created_at", "updated_at"],
            [
                (ds.store_user_id, STORE_USER_EMAIL, password_hash, False, 1, True, now, now),
                (ds.admin_id, ADMIN_EMAIL, password_hash, True, None, True, now, now),
            ],
        )
        ds.jobs = copy_rows(
            cur,
            "marketplace_import_jobs",
            JOB_COLUMNS,
            (job_row(rng, j, store_codes, now) for j in jobs),
        )
        ds.seconds["copy_jobs"] = time.perf_counter() - started
        started = time.perf_counter()
        messages = message_rows(random.Random(SEED + 1), jobs)  # generated as COPY reads them
        ds.messages = copy_rows(cur, "marketplace_import_errors", MESSAGE_COLUMNS, messages)
        ds.seconds["copy_messages"] = time.perf_counter() - started
        for table in ("stores", "users", "marketplace_import_jobs", "marketplace_import_errors"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        conn.commit()
    started = time.perf_counter()
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as conn:
        conn.execute("ANALYZE" if args.no_vacuum else "VACUUM (ANALYZE)")
    ds.seconds["analyze" if args.no_vacuum else "vacuum_analyze"] = time.perf_counter() - started
    ds.big_store_jobs = sum(1 for j in jobs if j["store_id"] == ds.big_store_id)
    ds.admin_jobs = sum(1 for j in jobs if j["user_id"] == ds.admin_id)
    for j in jobs:
        ds.status_counts[j["status"]] = ds.status_counts.get(j["status"], 0) + 1
    return ds


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Target:
    group: str
    label: str
    who: str  # "store", "admin" or "api"
    path: str
    htmx: bool = False
    expect: str | None = None  # text the answer must contain (proves the work was done)
    timings: list = field(default_factory=list)
    sql_counts: list = field(default_factory=list)
    sql_ms: list = field(default_factory=list)
    status: int | None = None
    problem: str | None = None


class SqlTimer:
    """Counts the statements a request runs and the time spent in them."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.count = 0
        self.seconds = 0.0
        self.statements: list[tuple[str, object]] = []
        self.record = False
        self._start: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def reset(self) -> None:
        self.count, self.seconds, self.statements = 0, 0.0, []

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._start.append(time.perf_counter())
        if self.record:
            self.statements.append((statement, parameters))

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.seconds += time.perf_counter() - self._start.pop()
        self.count += 1


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    if not match:
        raise RuntimeError("no CSRF token on /login")
    return match.group(1)


def logged_in(app, email: str):
    client = app.test_client()
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
    )
    if response.status_code != 302:
        raise RuntimeError(f"login as {email} answered {response.status_code}")
    return client


def page_text(page: int, per_page: int, total: int) -> str:
    pages = max(1, -(-total // per_page))
    return f"Page {page} of {pages} · {total} in all"


def targets_for(ds: Dataset, counts: dict) -> list[Target]:
    big, job = BIG_STORE_CODE, ds.big_job_id
    last = max(1, -(-counts["big"] // HISTORY_PER_PAGE))
    deep = min(2000, last)
    err_pages = max(1, -(-counts["job"] // ERRORS_PER_PAGE))
    err_deep = min(1500, err_pages)
    hx = {"htmx": True}
    return [
        Target(
            "history",
            "store history page",
            "store",
            f"/store/{big}/marketplace",
            expect=page_text(1, HISTORY_PER_PAGE, counts["big"]),
        ),
        Target(
            "history",
            f"store history page ?page={deep}",
            "store",
            f"/store/{big}/marketplace?page={deep}",
            expect=page_text(deep, HISTORY_PER_PAGE, counts["big"]),
        ),
        Target(
            "history",
            "history partial (HX)",
            "store",
            f"/store/{big}/marketplace/history",
            expect=page_text(1, HISTORY_PER_PAGE, counts["big"]),
            **hx,
        ),
        Target(
            "history",
            f"history partial (HX) ?page={deep}",
            "store",
            f"/store/{big}/marketplace/history?page={deep}",
            expect=page_text(deep, HISTORY_PER_PAGE, counts["big"]),
            **hx,
        ),
        Target(
            "history",
            f"history partial (HX) last ?page={last}",
            "store",
            f"/store/{big}/marketplace/history?page={last}",
            expect=page_text(last, HISTORY_PER_PAGE, counts["big"]),
            **hx,
        ),
        Target(
            "monitoring",
            "admin monitoring page",
            "admin",
            "/admin/imports",
            expect=page_text(1, 25, counts["all"]),
        ),
        Target(
            "monitoring",
            "monitoring ?status=failed",
            "admin",
            "/admin/imports?status=failed",
            expect=page_text(1, 25, counts["failed"]),
        ),
        Target(
            "monitoring",
            "monitoring ?store_id=big&creator=me",
            "admin",
            f"/admin/imports?store_id={ds.big_store_id}&creator=me",
            expect=page_text(1, 25, counts["big_admin"]),
        ),
        Target(
            "monitoring",
            "monitoring partial (HX)",
            "admin",
            "/admin/imports/table",
            expect=page_text(1, 25, counts["all"]),
            **hx,
        ),
        Target(
            "monitoring",
            "monitoring partial (HX) ?page=2000",
            "admin",
            "/admin/imports/table?page=2000",
            expect=page_text(2000, 25, counts["all"]) if counts["all"] > 25 * 1999 else None,
            **hx,
        ),
        Target(
            "errors",
            "job errors (HX) ?page=1",
            "store",
            f"/store/{big}/imports/{job}/errors?page=1",
            expect=page_text(1, ERRORS_PER_PAGE, counts["job"]),
            **hx,
        ),
        Target(
            "errors",
            f"job errors (HX) ?page={err_deep}",
            "store",
            f"/store/{big}/imports/{job}/errors?page={err_deep}",
            expect=page_text(err_deep, ERRORS_PER_PAGE, counts["job"]),
            **hx,
        ),
        Target(
            "errors",
            f"job errors (HX) ?error_type={FILTER_ERROR_TYPE}",
            "store",
            f"/store/{big}/imports/{job}/errors?page=1&error_type={FILTER_ERROR_TYPE}",
            expect=page_text(1, ERRORS_PER_PAGE, counts["job_type"]),
            **hx,
        ),
        Target(
            "errors",
            "job page (full, errors page 1)",
            "store",
            # A run's one page (the old /store/<code>/imports/<id> redirects to it).
            f"/store/{big}/integration/executions/{job}",
            expect=page_text(1, ERRORS_PER_PAGE, counts["job"]),
        ),
        Target(
            "stats",
            "stats API",
            "api",
            "/api/v1/admin/marketplace-import-jobs/stats",
            expect=f'"total":{counts["all"]}',
        ),
        Target(
            "stats",
            "stats API ?store_id=big",
            "api",
            f"/api/v1/admin/marketplace-import-jobs/stats?store_id={ds.big_store_id}",
            expect=f'"total":{counts["big"]}',
        ),
    ]


def expected_counts(pg_url: str, ds: Dataset) -> dict:
    """What the pages must say, straight from the database."""
    import psycopg

    with psycopg.connect(libpq_url(pg_url)) as conn:

        def one(sql: str, *params) -> int:
            return conn.execute(sql, params).fetchone()[0]

        kind = "kind = 'product_import'"
        return {
            "all": one(f"SELECT count(*) FROM marketplace_import_jobs WHERE {kind}"),  # noqa: S608
            "big": one(
                f"SELECT count(*) FROM marketplace_import_jobs WHERE {kind} AND store_id = %s",  # noqa: S608
                ds.big_store_id,
            ),
            "failed": one(
                f"SELECT count(*) FROM marketplace_import_jobs WHERE {kind} AND status = 'failed'"  # noqa: S608
            ),
            "big_admin": one(
                f"SELECT count(*) FROM marketplace_import_jobs WHERE {kind} "  # noqa: S608
                "AND store_id = %s AND user_id = %s",
                ds.big_store_id,
                ds.admin_id,
            ),
            "job": one(
                "SELECT count(*) FROM marketplace_import_errors WHERE import_job_id = %s",
                ds.big_job_id,
            ),
            "job_type": one(
                "SELECT count(*) FROM marketplace_import_errors "
                "WHERE import_job_id = %s AND error_type = %s",
                ds.big_job_id,
                FILTER_ERROR_TYPE,
            ),
        }


def api_url_available(app) -> bool:
    return any(
        r.rule == "/api/v1/admin/marketplace-import-jobs/stats" for r in app.url_map.iter_rules()
    )


def explain(app, target: Target, statements) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement one request ran (reads only)."""
    from webapp.extensions import db

    lines = [f"== {target.label}: GET {target.path}"]
    with app.app_context(), db.engine.connect() as conn:
        for statement, params in statements:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).scalars()
            lines.append("-- " + " ".join(statement.split())[:400])
            lines += ["   " + row for row in plan]
        conn.rollback()
    return lines


def measure(args, pg_url: str, ds: Dataset) -> tuple[list[Target], list[str], list[str]]:
    """Time every target through the app; returns the targets, notes and EXPLAIN lines."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import ApiToken, User

    notes: list[str] = []
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": sqlalchemy_url(pg_url),
            # The limiter still counts every request in Redis; it must not answer 429.
            "MERCATO_API_RATE_PER_MINUTE": 1_000_000,
        }
    )
    counts = expected_counts(pg_url, ds)
    targets = targets_for(ds, counts)
    with app.app_context():
        timer = SqlTimer(db.engine)
        token = None
        if api_url_available(app):
            admin = db.session.get(User, ds.admin_id)
            _, token = ApiToken.issue(admin, "bench")
            db.session.commit()
        db.session.remove()
    if token is None:
        notes.append(
            "the stats API route is missing: stats() measured through /admin/imports instead"
        )
        targets = [t for t in targets if t.who != "api"]
    clients = {"store": logged_in(app, STORE_USER_EMAIL), "admin": logged_in(app, ADMIN_EMAIL)}
    clients["api"] = app.test_client()
    explained: list[str] = []
    for target in targets:
        client = clients[target.who]
        headers = {}
        if target.htmx:
            headers["HX-Request"] = "true"
        if target.who == "api":
            headers["Authorization"] = f"Bearer {token}"
        print(f"  {target.label} ...", flush=True)
        for i in range(WARMUP + args.requests):
            timer.reset()
            timer.record = args.explain and i == WARMUP - 1
            started = time.perf_counter()
            response = client.get(target.path, headers=headers)
            body = response.get_data(as_text=True)
            elapsed = time.perf_counter() - started
            target.status = response.status_code
            if timer.record:
                explained += explain(app, target, timer.statements)
                timer.record = False
            if i == 0:
                if response.status_code != 200:
                    target.problem = f"answered {response.status_code}"
                elif target.expect and target.expect not in body:
                    target.problem = f"answer lacks {target.expect!r}"
            if i >= WARMUP:
                target.timings.append(elapsed * 1000)
                target.sql_counts.append(timer.count)
                target.sql_ms.append(timer.seconds * 1000)
    return targets, notes, explained


# -- report -------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def report(targets: list[Target]) -> tuple[list[str], list[dict]]:
    width = max(len(t.label) for t in targets)
    head = (
        f"{'target':<{width}}  {'median':>7}  {'p90':>7}  {'max':>7}  {'SQL':>3}  "
        f"{'in SQL':>7}  status  vs {TARGET_MS:g} ms"
    )
    lines = [head, "-" * len(head)]
    rows = []
    group = None
    for t in targets:
        if group is not None and t.group != group:
            lines.append("")
        group = t.group
        median = statistics.median(t.timings)
        p90, worst = pct(t.timings, 0.9), max(t.timings)
        sql_n = statistics.median(t.sql_counts)
        sql_ms = statistics.median(t.sql_ms)
        verdict = "PASS" if median < TARGET_MS and not t.problem else "FAIL"
        lines.append(
            f"{t.label:<{width}}  {median:7.1f}  {p90:7.1f}  {worst:7.1f}  {sql_n:3.0f}  "
            f"{sql_ms:7.1f}  {t.status:>6}  {verdict}" + (f"  ({t.problem})" if t.problem else "")
        )
        rows.append(
            {
                "group": t.group,
                "target": t.label,
                "path": t.path,
                "htmx": t.htmx,
                "median_ms": median,
                "p90_ms": p90,
                "max_ms": worst,
                "sql_statements": sql_n,
                "sql_ms_median": sql_ms,
                "status": t.status,
                "pass": verdict == "PASS",
                "problem": t.problem,
            }
        )
    lines.append("")
    lines.append(
        "ms through the Flask test client (routing, session, SQL, templates); "
        "SQL = statements per request, in SQL = median ms spent in them"
    )
    return lines, rows


# -- driver ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.back_office", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--jobs", type=int, default=100_000, help="import jobs to load")
    parser.add_argument("--errors", type=int, default=1_000_000, help="error rows to load")
    parser.add_argument("--stores", type=int, default=20, help="stores (the first is the big one)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per target")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="database to (re)create")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure a database kept by an earlier --keep run instead of loading a new one",
    )
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN ANALYZE of each target's SQL"
    )
    parser.add_argument(
        "--no-vacuum",
        action="store_true",
        help="ANALYZE only: the state right after a bulk load, before autovacuum has set "
        "the visibility map that index-only scans rely on",
    )
    parser.add_argument(
        "--out",
        default=str(DEFAULT_OUT),
        help="JSON file of the figures ('' for none; default: %(default)s)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args(argv)
    if args.jobs < 100 or args.errors < 1 or args.stores < 1 or args.requests < 1:
        parser.error("--jobs >= 100, --errors >= 1, --stores >= 1 and --requests >= 1")
    if not dbname(libpq_url(args.pg_url)).startswith(PG_DB_PREFIX):
        parser.error(f"--pg-url must name a database starting with {PG_DB_PREFIX!r}")
    return args


def redis_problem() -> str | None:
    from redis import Redis
    from redis.exceptions import RedisError

    from webapp import config

    url = config.load()["REDIS_URL"]
    try:
        Redis.from_url(url, socket_connect_timeout=2).ping()
    except RedisError as exc:
        return f"Redis at {url} does not answer ({exc})"
    return None


def reused_dataset(args, pg_url: str) -> Dataset:
    """The facts ``measure`` needs, read back from a kept database."""
    import psycopg

    ds = Dataset(stores=args.stores)
    with psycopg.connect(libpq_url(pg_url)) as conn:
        ds.big_store_id = conn.execute(
            "SELECT id FROM stores WHERE code = %s", (BIG_STORE_CODE,)
        ).fetchone()[0]
        ds.store_user_id = conn.execute(
            "SELECT id FROM users WHERE email = %s", (STORE_USER_EMAIL,)
        ).fetchone()[0]
        ds.admin_id = conn.execute(
            "SELECT id FROM users WHERE email = %s", (ADMIN_EMAIL,)
        ).fetchone()[0]
        ds.big_job_id = conn.execute(
            "SELECT import_job_id FROM marketplace_import_errors GROUP BY import_job_id "
            "ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
        ds.jobs = conn.execute("SELECT count(*) FROM marketplace_import_jobs").fetchone()[0]
        ds.messages = conn.execute("SELECT count(*) FROM marketplace_import_errors").fetchone()[0]
    return ds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["MERCATO_ENV"] = "test"
    os.environ.setdefault("MERCATO_LOG_LEVEL", "WARNING")
    command = f"cd {shlex.quote(str(ROOT))} && MERCATO_ENV=test scripts/with-redis.sh --fresh " + (
        shlex.join(
            [
                ".venv/bin/python",
                "-m",
                "bench.back_office",
                *(sys.argv[1:] if argv is None else argv),
            ]
        )
    )
    problem = redis_problem()
    if problem:
        print(f"{problem}: logins and the API need it.", file=sys.stderr)
        print(
            "Run: MERCATO_ENV=test scripts/with-redis.sh --fresh .venv/bin/python "
            "-m bench.back_office ...",
            file=sys.stderr,
        )
        return 2
    pg_url = libpq_url(args.pg_url)
    created = False
    try:
        if args.reuse:
            print(f"reusing {safe_url(pg_url)} ...", flush=True)
            ds = reused_dataset(args, pg_url)
        else:
            print(f"creating {safe_url(pg_url)} and migrating it ...", flush=True)
            pg_recreate(pg_url)
            created = True
            migrate(sqlalchemy_url(pg_url))
            print(
                f"loading {args.jobs:,} jobs and {args.errors:,} messages "
                f"over {args.stores} stores with COPY ...",
                flush=True,
            )
            started = time.perf_counter()
            ds = load(args, pg_url)
            print(
                f"  loaded in {time.perf_counter() - started:.1f}s "
                + json.dumps({k: round(v, 1) for k, v in ds.seconds.items()}),
                flush=True,
            )
        if ds.status_counts:
            print(
                f"  big store: {ds.big_store_jobs:,} jobs; admin's jobs: {ds.admin_jobs:,}; "
                f"statuses: {json.dumps(ds.status_counts)}",
                flush=True,
            )
        print(f"  the errors pages read job #{ds.big_job_id} (the most messages)", flush=True)
        print(f"measuring ({WARMUP} warm-up + {args.requests} timed requests each) ...")
        targets, notes, explained = measure(args, pg_url, ds)
        lines, rows = report(targets)
        print()
        if explained:
            print("\n".join(explained))
            print()
        print(
            f"jobs={ds.jobs:,} messages={ds.messages:,} stores={args.stores} "
            f"requests={args.requests} python={sys.version.split()[0]} cpus={os.cpu_count()}"
        )
        print()
        print("\n".join(lines))
        for note in notes:
            print(f"NOTE: {note}")
        print()
        print(f"reproduce: {command}")
        if args.out:
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(
                json.dumps(
                    {
                        "command": command,
                        "jobs": ds.jobs,
                        "messages": ds.messages,
                        "stores": args.stores,
                        "requests": args.requests,
                        "target_ms": TARGET_MS,
                        "big_job_id": ds.big_job_id,
                        "load_seconds": ds.seconds,
                        "results": rows,
                        "notes": notes,
                        "finished_at": time.time(),
                    },
                    indent=2,
                )
                + "\n"
            )
            print(f"figures written to {out}")
    finally:
        if args.keep or args.reuse:
            print(f"kept: {safe_url(pg_url)}")
        elif created:
            pg_drop(pg_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Product-feed import throughput against a ``psql \\copy`` floor measured in the same run.

    python -m bench.import_feed [--rows N] [--profile merchant,basic] [--batch-size N] ...

For each feed profile (:mod:`bench.feedgen`: ``merchant``, shaped like a real Google
Shopping export, and ``basic``, the benchmark's first and gentler feed), generates a
CSV, then times:

* ``psql \\copy`` of the file into an unlogged all-text table: the floor;
* a first import into PostgreSQL, then a re-import of the same file (nothing changes);
* the catalog COPY floor: the first import's own rows, dumped and COPYed back in binary
  into the emptied catalog tables (their indexes, checks and WAL, nothing of ours) - what
  the schema alone costs, against the \\copy floor's unlogged, unindexed text table;
* the same two imports into a fresh SQLite file.

Every import runs in a fresh child process (``--child``, below) that creates the run,
times only ``service.execute`` and reports its peak RSS, so one import's memory never
hides behind another's.  Figures are printed (and written as JSON to ``--out``); the
targets are reported as met or not, never asserted.

The PostgreSQL database (``--pg-url``, its name must start with ``mercato_bench``) is
created fresh, built by the Alembic revisions and dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/mercato_bench"
DEFAULT_OUT = ROOT / "bench" / "out" / "import_feed.json"
PG_DB_PREFIX = "mercato_bench"
RESULT_PREFIX = "BENCH_RESULT "
STORE_CODE = "bench"

# Targets from the issue (2-core machine).
PG_FIRST_MAX_COPY_RATIO = 3.0
PG_REIMPORT_MAX_COPY_RATIO = 2.0
SQLITE_MIN_ROWS_PER_S = 60_000
PEAK_RSS_MAX_MB = 200

LABEL_WIDTH = 28
COPY_LABEL = "psql \\copy floor"
CATALOG_LABEL = "catalog COPY floor"
COPY_RATIO_LIMITS = {"pg_first": PG_FIRST_MAX_COPY_RATIO, "pg_reimport": PG_REIMPORT_MAX_COPY_RATIO}


# -- helpers ------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class PhaseLog(logging.Handler):
    """The engine's own figures, from its log (columnar path): CPU seconds of the thread
    reading and parsing the file (read), of the thread identifying, normalising and
    encoding rows (main), of the one talking to the database (database); how long the
    main thread waited for the database thread (waited) and the closing VACUUM took
    (vacuum, wall seconds)."""

    NAMES = {
        "read_thread_cpu_seconds": "read",
        "parse": "main",
        "database_thread": "database",
        "parse_waited": "waited",
    }

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.figures: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        for key, value in re.findall(r"(\w+)=([0-9.]+)", text):
            if key in self.NAMES:
                self.figures[self.NAMES[key]] = float(value)
            elif key == "seconds" and " vacuumed " in text:
                self.figures["vacuum"] = float(value)


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu(engine) -> dict[int, float] | None:
    """CPU seconds so far of each PostgreSQL backend connected to this database (read
    from /proc: the server must run on this machine), or None."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        pids = conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        ).scalars()
        pids = list(pids)
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        out[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return out


def libpq_url(url: str) -> str:
    """The URL psql and psycopg understand (no SQLAlchemy ``+driver``)."""
    scheme, rest = url.split("://", 1)
    if scheme.split("+", 1)[0] in ("postgres", "postgresql"):
        scheme = "postgresql"
    return f"{scheme}://{rest}"


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + libpq_url(url).split("://", 1)[1]


def with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def safe_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (
        f":{parts.port}" if parts.port else ""
    )
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as fh:
        return max(0, sum(1 for _ in csv.reader(fh)) - 1)


def read_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh))


def human(n: float) -> str:
    return f"{n:,.0f}"


# -- PostgreSQL ---------------------------------------------------------------------------


def pg_recreate(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = dbname(url)
    with psycopg.connect(libpq_url(with_dbname(url, "postgres")), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def pg_drop(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = dbname(url)
    with psycopg.connect(libpq_url(with_dbname(url, "postgres")), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def pg_checkpoint(url: str) -> None:
    """Start each timed PostgreSQL step without the previous step's dirty pages."""
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def migrate(sqlalchemy_uri: str) -> None:
    """Build the schema with the Alembic revisions, as a deployment does."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": sqlalchemy_uri})
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()


def copy_floor(url: str, path: Path, rows: int) -> dict:
    """``psql \\copy`` of the file into a fresh unlogged all-text table."""
    import psycopg
    from psycopg import sql

    header = read_header(path)
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(h)) for h in header)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS floor_copy")
        conn.execute(sql.SQL("CREATE UNLOGGED TABLE floor_copy ({})").format(columns))
        conn.execute("CHECKPOINT")
    quoted = "'" + str(path).replace("'", "''") + "'"
    cmd = [
        "psql",
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        libpq_url(url),
        "-c",
        f"\\copy floor_copy FROM {quoted} CSV HEADER",
    ]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    result: dict = {"step": "copy", "ok": done.returncode == 0, "seconds": seconds}
    if done.returncode != 0:
        result["error"] = (done.stderr or done.stdout).strip()[-2000:]
        return result
    copied = None
    for line in done.stdout.splitlines():
        if line.startswith("COPY "):
            copied = int(line.split()[1])
    result["rows"] = copied if copied is not None else rows
    result["rows_per_s"] = result["rows"] / seconds if seconds else None
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("DROP TABLE floor_copy")  # its pages are not the imports' business
    return result


def catalog_floor(url: str, work: Path) -> dict:
    """The first import's own rows, COPYed in binary into the emptied catalog tables -
    their indexes, checks and WAL, with no parsing, hashing or normalising: the least
    any import into this schema can take (run after the imports, which it empties)."""
    from webapp.imports.writer import PRODUCT_COLUMNS

    work.mkdir(parents=True, exist_ok=True)
    products, translations = work / "products.bin", work / "translations.bin"
    product_columns = ", ".join(("id", *PRODUCT_COLUMNS))
    translation_columns = "marketplace_product_id, language, title, description, content_hash"

    def psql(*commands: str, env: dict | None = None) -> subprocess.CompletedProcess:
        cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", libpq_url(url)]
        for command in commands:
            cmd += ["-c", command]
        return subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)

    def quoted(path: Path) -> str:
        return "'" + str(path).replace("'", "''") + "'"

    dumped = psql(
        f"\\copy (SELECT {product_columns} FROM marketplace_products ORDER BY id) "  # noqa: S608 - our column names
        f"TO {quoted(products)} WITH (FORMAT binary)",
        f"\\copy (SELECT {translation_columns} FROM marketplace_product_translations "  # noqa: S608
        f"ORDER BY marketplace_product_id) TO {quoted(translations)} WITH (FORMAT binary)",
        "TRUNCATE marketplace_products, marketplace_product_translations CASCADE",
        "CHECKPOINT",
    )
    if dumped.returncode != 0:
        return {"step": "catalog", "ok": False, "error": dumped.stderr.strip()[-2000:]}
    # One statement a table: enough memory that its transition rows (for the catalog's
    # checks) are not spilled to disk, as an import's batches are not.
    env = dict(os.environ, PGOPTIONS="-c work_mem=2GB -c synchronous_commit=off")
    started = time.perf_counter()
    done = psql(
        "BEGIN",
        f"\\copy marketplace_products ({product_columns}) FROM {quoted(products)} "
        "WITH (FORMAT binary)",
        f"\\copy marketplace_product_translations ({translation_columns}) "
        f"FROM {quoted(translations)} WITH (FORMAT binary)",
        "COMMIT",
        env=env,
    )
    seconds = time.perf_counter() - started
    products.unlink(missing_ok=True)
    translations.unlink(missing_ok=True)
    if done.returncode != 0:
        return {"step": "catalog", "ok": False, "error": done.stderr.strip()[-2000:]}
    return {"step": "catalog", "ok": True, "seconds": seconds}


# -- one import in a child process ----------------------------------------------------------


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["MERCATO_ENV"] = "test"
    env.setdefault("MERCATO_LOG_LEVEL", "WARNING")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_child(step: str, db_uri: str, path: Path, batch_size: int, work_dir: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "bench.import_feed",
        "--child",
        "--db-uri",
        db_uri,
        "--file",
        str(path),
        "--batch-size",
        str(batch_size),
        "--work-dir",
        str(work_dir),
    ]
    done = subprocess.run(
        cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True, check=False
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
            result["step"] = step
            result["ok"] = done.returncode == 0
            if done.returncode != 0:
                result["error"] = done.stderr.strip()[-2000:]
            return result
    return {
        "step": step,
        "ok": False,
        "error": f"child exited {done.returncode}: "
        + (done.stderr.strip() or done.stdout.strip())[-3000:],
    }


def child_main(args: argparse.Namespace) -> int:
    """Create a run for the bench store and execute it; print one JSON result line."""
    os.environ["MERCATO_ENV"] = "test"
    from sqlalchemy import select

    from webapp import create_app
    from webapp.extensions import db
    from webapp.imports import service
    from webapp.models import Store

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": args.db_uri, "MERCATO_WORK_DIR": str(args.work_dir)}
    )
    with app.app_context():
        store = db.session.scalar(select(Store).where(Store.code == STORE_CODE))
        if store is None:
            store = Store(code=STORE_CODE, name="Benchmark", default_language="en")
            db.session.add(store)
            db.session.commit()
        run = service.create_run(
            store, source_path=str(args.file), batch_size=args.batch_size, trigger="cli"
        )
        run_id = run.id
        baseline_rss, baseline_peak = current_rss_mb(), peak_rss_mb()
        phases = PhaseLog()
        engine_log = logging.getLogger("mercato.imports")
        engine_log.addHandler(phases)
        engine_log.setLevel(logging.INFO)
        server_before = server_cpu(db.engine)
        cpu_before = process_cpu()
        started = time.perf_counter()
        run = service.execute(run_id)
        seconds = time.perf_counter() - started
        cpu = process_cpu() - cpu_before
        server_after = server_cpu(db.engine)
        peak = peak_rss_mb()
        summary = run.summary() if run is not None else {"job_id": run_id, "status": "missing"}
        # The run's own duration, as its page shows it (the closing VACUUM comes after).
        run_seconds = (
            (run.completed_at - run.started_at).total_seconds()
            if run is not None and run.completed_at and run.started_at
            else None
        )
        if run is not None and run.error_message:
            summary["error_message"] = run.error_message
        db.session.remove()
        db.engine.dispose()
    rows = summary.get("total", 0)
    result = {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds if seconds else None,
        "summary": summary,
        "baseline_rss_mb": baseline_rss,
        "baseline_peak_rss_mb": baseline_peak,
        "peak_rss_mb": peak,
        "import_growth_mb": peak - (baseline_rss if baseline_rss is not None else baseline_peak),
        # CPU seconds, which a busy machine stretches less than wall time: this process
        # (every thread) and the database server's backends for this database.
        "cpu_seconds": cpu,
        "run_seconds": run_seconds,
        "phases": phases.figures,
        "server_cpu_seconds": (
            sum(t - server_before.get(pid, 0.0) for pid, t in server_after.items())
            if server_after is not None
            else None
        ),
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


# -- checks and report ----------------------------------------------------------------------


def check(result: dict, rows: int, first: bool) -> list[str]:
    """What is wrong with an import's outcome (empty when it did what it should)."""
    label = result["label"]
    if not result.get("ok") or "summary" not in result:
        return [f"{label} did not complete: {result.get('error', 'no result')}"]
    s = result["summary"]
    problems = []
    if s.get("status") != "completed":
        problems.append(
            f"{label} ended {s.get('status')!r}"
            + (f": {s['error_message']}" if s.get("error_message") else "")
        )
    want = {"total": rows, "errors": 0}
    if first:
        want |= {"imported": rows, "updated": 0, "unchanged": 0}
    else:
        want |= {"imported": 0, "updated": 0, "unchanged": rows}
    for key, value in want.items():
        if s.get(key) != value:
            problems.append(f"{label}: {key}={s.get(key)!r}, expected {value:,}")
    return problems


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "NOT MET")


def report(ctx: dict) -> tuple[list[str], dict]:
    rows, copy, imports = ctx["rows"], ctx.get("copy"), ctx["imports"]
    size_mb = ctx["file_bytes"] / 1e6
    lines = [
        f"rows={rows:,} file={size_mb:,.{0 if size_mb >= 100 else 1}f} MB "
        f"({ctx['file_bytes'] / max(rows, 1):,.0f} B/row) batch={ctx['batch_size']:,} "
        f"python={sys.version.split()[0]} cpus={os.cpu_count()}",
        "",
    ]
    copy_s = copy["seconds"] if copy and copy.get("ok") else None
    if copy is not None:
        if copy.get("ok"):
            lines.append(
                f"{COPY_LABEL:<{LABEL_WIDTH}}: {copy['seconds']:7.2f}s "
                f"{human(copy['rows_per_s']):>9} rows/s"
            )
        else:
            lines.append(f"{COPY_LABEL:<{LABEL_WIDTH}}: FAILED")
    targets: dict[str, dict] = {}
    for r in imports:
        if not r.get("ok") or "seconds" not in r:
            lines.append(f"{r['label']:<{LABEL_WIDTH}}: FAILED")
            continue
        line = (
            f"{r['label']:<{LABEL_WIDTH}}: {r['seconds']:7.2f}s "
            f"{human(r['rows'] / r['seconds'] if r['seconds'] else 0):>9} rows/s"
        )
        extra = ""
        if r["step"].startswith("pg_") and copy_s:
            ratio = r["seconds"] / copy_s
            r["copy_ratio"] = ratio
            limit = COPY_RATIO_LIMITS[r["step"]]
            met = ratio <= limit
            targets[f"{r['step']}_copy_ratio"] = {"value": ratio, "limit": limit, "met": met}
            extra = f"= {ratio:5.2f}x copy time (target <= {limit:g}x: {verdict(met)})"
        elif r["step"] == "sqlite_first":
            met = r["rows"] / r["seconds"] >= SQLITE_MIN_ROWS_PER_S
            targets["sqlite_first_rows_per_s"] = {
                "value": r["rows"] / r["seconds"],
                "min": SQLITE_MIN_ROWS_PER_S,
                "met": met,
            }
            extra = f"(target >= {SQLITE_MIN_ROWS_PER_S:,} rows/s: {verdict(met)})"
        elif r["step"] == "sqlite_reimport":
            extra = "(no target)"
        line += f"  {extra:<46}"
        line += f"  peak RSS {r['peak_rss_mb']:4.0f} MB (+{r['import_growth_mb']:.0f} MB in import)"
        if r.get("run_seconds") is not None:
            line += f"\n{'':<{LABEL_WIDTH}}  the run was complete after {r['run_seconds']:.1f}s"
            if (r.get("phases") or {}).get("vacuum") is not None:
                line += f", then VACUUM (ANALYZE) {r['phases']['vacuum']:.1f}s"
        if r.get("cpu_seconds") is not None:
            line += f"\n{'':<{LABEL_WIDTH}}  CPU: importer {r['cpu_seconds']:.1f}s"
            phases = dict(r.get("phases") or {})
            waited = phases.pop("waited", None)
            if phases:
                line += " (" + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items()) + ")"
            if r.get("server_cpu_seconds") is not None:
                line += f", database server {r['server_cpu_seconds']:.1f}s"
            if waited is not None:
                line += f"; main thread waited {waited:.1f}s for the database thread"
        lines.append(line)
    catalog = ctx.get("catalog")
    if catalog is not None and catalog.get("ok") and copy_s:
        lines += [
            f"{CATALOG_LABEL:<{LABEL_WIDTH}}: {catalog['seconds']:7.2f}s "
            f"{human(rows / catalog['seconds']):>9} rows/s  = {catalog['seconds'] / copy_s:5.2f}x "
            "copy time (the first import's rows, binary, into the catalog tables: no target)",
        ]
    elif catalog is not None:
        lines += [f"{CATALOG_LABEL:<{LABEL_WIDTH}}: FAILED"]
    done = [r for r in imports if r.get("ok") and "peak_rss_mb" in r]
    if done:
        worst = max(done, key=lambda r: r["peak_rss_mb"])
        met = worst["peak_rss_mb"] < PEAK_RSS_MAX_MB
        targets["peak_rss_mb"] = {"value": worst["peak_rss_mb"], "max": PEAK_RSS_MAX_MB, "met": met}
        lines += [
            "",
            f"peak RSS of an import: {worst['peak_rss_mb']:.0f} MB ({worst['label']}; "
            f"the process held {worst['baseline_rss_mb'] or 0:.0f} MB before execute) "
            f"(target < {PEAK_RSS_MAX_MB} MB: {verdict(met)})",
        ]
    if copy is None:
        lines.append("(PostgreSQL skipped: no \\copy floor, no copy-time ratios)")
    return lines, targets


# -- driver -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.import_feed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to generate")
    parser.add_argument(
        "--profile",
        default="merchant,basic",
        help="feed profiles to generate and time, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--batch-size", type=int, default=5000, help="the runs' batch size")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="database to (re)create")
    parser.add_argument("--sqlite-path", type=Path, help="SQLite file (default: a temp file)")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-pg", action="store_true", help="also skips the \\copy floor")
    parser.add_argument(
        "--out",
        default=str(DEFAULT_OUT),
        help="JSON file of the figures ('' for none; default: %(default)s)",
    )
    parser.add_argument("--file", type=Path, help="import this CSV instead of generating one")
    parser.add_argument(
        "--keep", action="store_true", help="keep the CSV, SQLite file and PostgreSQL database"
    )
    # Internal: one import in a fresh process (see run_child).
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db-uri", help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if not (args.db_uri and args.file and args.work_dir):
            parser.error("--child needs --db-uri, --file and --work-dir")
        return args
    from bench.feedgen import PROFILES

    args.profiles = [p.strip() for p in args.profile.split(",") if p.strip()]
    if not args.profiles or any(p not in PROFILES for p in args.profiles):
        parser.error(f"--profile takes {', '.join(PROFILES)} (comma-separated)")
    if args.file is not None:
        args.profiles = ["file"]
    if args.file is None and args.rows < 1:
        parser.error("--rows must be at least 1")
    if not args.skip_pg and not dbname(libpq_url(args.pg_url)).startswith(PG_DB_PREFIX):
        parser.error(f"--pg-url must name a database starting with {PG_DB_PREFIX!r}")
    if args.file is not None and not args.file.is_file():
        parser.error(f"--file {args.file} does not exist")
    if args.sqlite_path is not None and not args.skip_sqlite and args.sqlite_path.exists():
        parser.error(f"--sqlite-path {args.sqlite_path} exists; the benchmark wants a fresh file")
    return args


def bench_profile(args, profile: str, tmp: Path, work_dir: Path, sqlite_path: Path) -> dict:
    """Generate (or count) one feed and time every step on it; the run's figures."""
    if args.file is not None:
        path = args.file.resolve()
        print(f"counting the rows of {path} ...", flush=True)
        rows = count_rows(path)
    else:
        from bench.feedgen import generate

        path = tmp / f"feed-{profile}.csv"
        rows = args.rows
        print(f"[{profile}] generating {rows:,} rows into {path} ...", flush=True)
        started = time.perf_counter()
        generate(path, rows, profile=profile)
        print(f"  generated in {time.perf_counter() - started:.1f}s", flush=True)
    ctx: dict = {
        "profile": profile,
        "rows": rows,
        "file": str(path),
        "file_bytes": path.stat().st_size,
        "batch_size": args.batch_size,
        "imports": [],
    }

    def run_import(step: str, label: str, db_uri: str) -> None:
        print(f"[{profile}] {label} ...", flush=True)
        if db_uri.startswith("postgresql"):
            pg_checkpoint(args.pg_url)
        result = run_child(step, db_uri, path, args.batch_size, work_dir)
        result["label"] = label
        ctx["imports"].append(result)
        if result.get("ok"):
            print(f"  {result['seconds']:.1f}s {json.dumps(result['summary'])}", flush=True)
        else:
            print(f"  FAILED: {result.get('error')}", flush=True)

    if not args.skip_pg:
        print(f"[{profile}] creating {safe_url(args.pg_url)} and migrating it ...", flush=True)
        pg_recreate(args.pg_url)
        migrate(sqlalchemy_url(args.pg_url))
        print(f"[{profile}] psql \\copy floor ...", flush=True)
        ctx["copy"] = copy_floor(args.pg_url, path, rows)
        if ctx["copy"].get("ok"):
            print(f"  {ctx['copy']['seconds']:.1f}s", flush=True)
        else:
            print(f"  FAILED: {ctx['copy'].get('error')}", flush=True)
        pg_uri = sqlalchemy_url(args.pg_url)
        run_import("pg_first", "PostgreSQL first import", pg_uri)
        run_import("pg_reimport", "PostgreSQL re-import", pg_uri)
        print(f"[{profile}] catalog COPY floor ...", flush=True)
        ctx["catalog"] = catalog_floor(args.pg_url, tmp / "catalog")
        if ctx["catalog"].get("ok"):
            print(f"  {ctx['catalog']['seconds']:.1f}s", flush=True)
        else:
            print(f"  FAILED: {ctx['catalog'].get('error')}", flush=True)
    if not args.skip_sqlite:
        sqlite_path.unlink(missing_ok=True)
        sqlite_uri = f"sqlite:///{sqlite_path.resolve()}"
        print(f"[{profile}] creating {sqlite_path} and migrating it ...", flush=True)
        migrate(sqlite_uri)
        run_import("sqlite_first", "SQLite first import", sqlite_uri)
        run_import("sqlite_reimport", "SQLite re-import", sqlite_uri)
    if args.file is None and not args.keep:
        path.unlink(missing_ok=True)
    return ctx


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    os.environ["MERCATO_ENV"] = "test"
    command = f"cd {shlex.quote(str(ROOT))} && " + shlex.join(
        [sys.executable, "-m", "bench.import_feed", *(sys.argv[1:] if argv is None else argv)]
    )
    tmp = Path(tempfile.mkdtemp(prefix="mercato-bench-"))
    work_dir = tmp / "work"
    sqlite_path = args.sqlite_path or tmp / "bench.sqlite3"
    runs: list[dict] = []
    try:
        for profile in args.profiles:
            runs.append(bench_profile(args, profile, tmp, work_dir, sqlite_path))
        load = os.getloadavg()
        print()
        print(
            f"load average while it ran: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
            f"on {os.cpu_count()} CPUs (ratios hold within one run; absolute times vary)"
        )
        for ctx in runs:
            lines, targets = report(ctx)
            problems = []
            if ctx.get("copy") is not None and not ctx["copy"].get("ok"):
                problems.append(f"psql \\copy floor failed: {ctx['copy'].get('error')}")
            elif ctx.get("copy") is not None and ctx["copy"]["rows"] != ctx["rows"]:
                problems.append(
                    f"psql \\copy floor copied {ctx['copy']['rows']:,} rows, not {ctx['rows']:,}"
                )
            for r in ctx["imports"]:
                problems += check(r, ctx["rows"], first=r["step"].endswith("_first"))
            print()
            print(f"== profile {ctx['profile']} ==")
            print("\n".join(lines))
            for problem in problems:
                print(f"WARNING: {problem}")
            ctx |= {"targets": targets, "warnings": problems}
        print()
        print(f"reproduce: {command}")
        if args.out:
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            summary = {
                "command": command,
                "load_average": os.getloadavg(),
                "profiles": runs,
                "finished_at": time.time(),
            }
            out.write_text(json.dumps(summary, indent=2) + "\n")
            print(f"figures written to {out}")
    finally:
        if args.keep:
            kept = [str(tmp)]
            if not args.skip_pg:
                kept.append(safe_url(args.pg_url))
            if args.sqlite_path is not None and not args.skip_sqlite:
                kept.append(str(args.sqlite_path))
            print("kept: " + ", ".join(kept))
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            if not args.skip_pg:
                pg_drop(args.pg_url)
            if args.sqlite_path is not None and args.sqlite_path.exists():
                print(f"kept the SQLite file you named: {args.sqlite_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The products page with 1,000,000 products in one store, before and after, through the app.

    MERCATO_ENV=test scripts/with-redis.sh --fresh .venv/bin/python -m bench.products_pages \\
        [--products 1000000] [--small 10000] [--requests 10] [--baseline-requests 3]
        [--baseline-ref REF | --no-baseline] [--clients 20] [--load-seconds 40]
        [--pg-url postgresql://127.0.0.1:5432/mercato_bench_products] [--keep] [--reuse]

Target (issue 12, item 4): the products list and its search answer in under 100 ms at the
median with 1,000,000 products in one store, on PostgreSQL, and one big store does not
make the other stores wait.

1. The database (its name must start with ``mercato_bench_products``) is created and built
   by the Alembic revisions up to the one before this branch's index migration (0015),
   then loaded with COPY (:mod:`bench.products_data`): a small store's 10,000 products
   first, then the big store's million, with 1.6 titles a product; VACUUM ANALYZE.
2. **Before**: the code of ``--baseline-ref`` (default: where this branch left main, found
   with ``git merge-base``), exported with ``git archive`` to a temporary directory, serves
   every target from a child process through the Flask test client, logged in as each
   store's user: 2 warm-up requests, then ``--baseline-requests`` timed ones.
3. The upgrade to the head revision is timed (it builds the indexes on the loaded tables),
   then ANALYZE.
4. **After**: this tree's code serves the same targets, ``--requests`` timed requests each.
5. **Under load**, for each of the two trees: the Procfile's ``web`` command (gunicorn, two
   synchronous workers, as deployed) serves the database; ``--clients`` threads request the
   big store's pages and searches back to back for ``--load-seconds`` while one more
   client times the small store's list and a search of it, one request after the other.

Each table gives the median (and p90 or max) in ms; every answer must be 200 and show what
the target asks for (an id the search must find). Figures are printed and written as JSON
to ``--out``; nothing is asserted. The database is dropped at the end unless ``--keep``;
``--reuse`` measures a kept database again (already at the head revision: no "before").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql://127.0.0.1:5432/mercato_bench_products"
DEFAULT_OUT = ROOT / "bench" / "out" / "products_pages.json"
PG_DB_PREFIX = "mercato_bench_products"
PASSWORD = "bench-password-123"  # noqa: S105  (a throwaway benchmark login)
BIG_USER, SMALL_USER = "shop@big.bench", "shop@small.bench"
TARGET_MS = 100.0
WARMUP = 2
RESULT_PREFIX = "BENCH_RESULT "
INDEX_REVISION = "0015_products_list_search"


# -- targets -------------------------------------------------------------------------------


def targets(catalog: dict) -> list[dict]:
    """What each request asks, and a text its answer must contain (None: just a 200).

    Deep pages are asked twice: by page number (a typed URL: ``OFFSET`` both before and
    after) and as the pager's own links reach them (after: ``after=<id>``, read like the
    first page; the old code ignores ``after`` and reads the same page by offset)."""
    big, small = catalog["big_products"], catalog["small_products"]
    middle, last = big // 50, -(-big // 25)
    middle_id = catalog["first_big_id"] + big - (middle - 1) * 25  # first id of that page
    sku, gtin = catalog["sample_sku"], catalog["sample_gtin"]
    line, common, rare = catalog["rare_line"], catalog["common_brand"], catalog["rare_brand"]
    items = [
        ("list page 1", "big", "/store/big/products", None),
        ("list page 2", "big", "/store/big/products?page=2", None),
        (
            f"page {middle:,} by link",
            "big",
            f"/store/big/products?after={middle_id}&page={middle}",
            None,
        ),
        (f"page {middle:,} typed", "big", f"/store/big/products?page={middle}", None),
        (f"page {last:,} (last) typed", "big", f"/store/big/products?page={last}", None),
        ("availability in stock", "big", "/store/big/products?availability=in_stock", None),
        ("availability backorder", "big", "/store/big/products?availability=backorder", None),
        ("language de (10%)", "big", "/store/big/products?language=de", None),
        ("language en (50%)", "big", "/store/big/products?language=en", None),
        ("search id", "big", f"/store/big/products?q={sku}", sku),
        ("search id prefix", "big", f"/store/big/products?q={sku[:-1]}", sku),
        ("search GTIN", "big", f"/store/big/products?q={gtin}", sku),
        ("search title word (5%)", "big", "/store/big/products?q=chaise", "haise"),
        ("search title word, page 2", "big", "/store/big/products?q=chaise&page=2", "haise"),
        ("search title, rare word", "big", f"/store/big/products?q={line}", line),
        ("search two words", "big", "/store/big/products?q=chaise+velours", "elours"),
        (f"search brand ({common})", "big", f"/store/big/products?q={common}", common),
        (f"search brand ({rare}, rare)", "big", f"/store/big/products?q={rare}", rare),
        ("search one letter", "big", "/store/big/products?q=c", None),
        ("search, no match", "big", "/store/big/products?q=zqxwv", None),
        (
            "search + availability",
            "big",
            "/store/big/products?q=chaise&availability=backorder",
            "haise",
        ),
        (f"small store ({small:,}) list", "small", "/store/small/products", None),
        ("small store search", "small", "/store/small/products?q=chaise", "haise"),
    ]
    return [
        {"label": label, "who": who, "path": path, "expect": expect}
        for label, who, path, expect in items
    ]


LOAD_PATHS = (  # what the big store's clients ask, in turn
    "/store/big/products",
    "/store/big/products?q=chaise",
    "/store/big/products?availability=backorder",
    "/store/big/products?page=2",
    "/store/big/products?q=chaise+velours",
    "/store/big/products?language=de",
)
TIMED_PATHS = (
    ("small store list", "/store/small/products"),
    ("small store search", "/store/small/products?q=chaise"),
)


# -- child: one tree's app through the test client ------------------------------------------


def child_main(args) -> int:
    """Runs inside the tree being measured (its ``webapp`` first on sys.path)."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import User

    app = create_app({"SQLALCHEMY_DATABASE_URI": args.db_uri, "WTF_CSRF_ENABLED": False})
    with app.app_context():
        for email, store_id in ((BIG_USER, 1), (SMALL_USER, 2)):
            if db.session.query(User).filter_by(email=email).first() is None:
                user = User(email=email, store_id=store_id)
                user.set_password(PASSWORD)
                db.session.add(user)
        db.session.commit()
        db.session.remove()
    clients = {}
    for who, email in (("big", BIG_USER), ("small", SMALL_USER)):
        clients[who] = app.test_client()
        response = clients[who].post("/login", data={"email": email, "password": PASSWORD})
        if response.status_code != 302:
            raise SystemExit(f"login as {email} answered {response.status_code}")
    results = []
    for target in json.loads(args.targets):
        client = clients[target["who"]]
        timings, problem = [], None
        print(f"  {target['label']} ...", file=sys.stderr, flush=True)
        for i in range(WARMUP + args.requests):
            started = time.perf_counter()
            response = client.get(target["path"], headers={"HX-Request": "true"})
            body = response.get_data(as_text=True)
            elapsed = (time.perf_counter() - started) * 1000
            if i == 0:
                if response.status_code != 200:
                    problem = f"answered {response.status_code}"
                elif target["expect"] and target["expect"] not in body:
                    problem = f"answer lacks {target['expect']!r}"
                count = re.search(r'id="products-count">([^<]*)<', body)
                shown = (count.group(1).strip() if count else "") or (
                    "no product" if "No product" in body else ""
                )
            if i >= WARMUP:
                timings.append(elapsed)
        results.append({**target, "timings": timings, "problem": problem, "shown": shown})
    print(RESULT_PREFIX + json.dumps(results), flush=True)
    return 0


def run_child(tree: Path, db_uri: str, items: list[dict], requests: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(tree), "MERCATO_ENV": "test"}
    env.setdefault("MERCATO_LOG_LEVEL", "WARNING")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--db-uri",
        db_uri,
        "--requests",
        str(requests),
        "--targets",
        json.dumps(items),
    ]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)  # noqa: S603
    sys.stderr.write(done.stderr[-4000:] if done.returncode else "")
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(f"the measuring child in {tree} failed ({done.returncode})")


# -- under load: the deployed web command -------------------------------------------------


def web_command(tree: Path) -> str:
    for line in (tree / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError(f"no web process in {tree / 'Procfile'}")


def logged_in_session(base: str, email: str):
    import requests

    session = requests.Session()
    page = session.get(f"{base}/login", timeout=60)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    data = {"email": email, "password": PASSWORD}
    if token:
        data["csrf_token"] = token.group(1)
    response = session.post(f"{base}/login", data=data, allow_redirects=False, timeout=60)
    if response.status_code != 302:
        raise RuntimeError(f"login as {email} through gunicorn answered {response.status_code}")
    return session


def under_load(
    tree: Path, libpq: str, port: int, clients: int, seconds: float, think: float = 0.0
) -> dict:
    """gunicorn from ``tree`` as the Procfile runs it; ``clients`` threads on the big store
    (each waiting ``think`` seconds between its requests) while one client times the small
    store."""
    import secrets

    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "DATABASE_URL": libpq,
        "MERCATO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "MERCATO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "MERCATO_SECURE_COOKIES": "false",
        "MERCATO_LOG_LEVEL": "WARNING",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    command = web_command(tree).replace("0.0.0.0", "127.0.0.1")  # noqa: S104
    server = subprocess.Popen(  # noqa: S602  (the Procfile's own shell line)
        command,
        shell=True,
        cwd=tree,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import requests

        for _ in range(120):
            try:
                requests.get(f"{base}/login", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.5)
        big = logged_in_session(base, BIG_USER)
        small = logged_in_session(base, SMALL_USER)
        stop = threading.Event()
        big_timings: list[float] = []
        errors: list[str] = []

        def hammer(n: int) -> None:
            session = requests.Session()
            session.cookies.update(big.cookies)
            i = n
            while not stop.is_set():
                path = LOAD_PATHS[i % len(LOAD_PATHS)]
                i += 1
                started = time.perf_counter()
                try:
                    response = session.get(base + path, timeout=120)
                    if response.status_code != 200:
                        errors.append(f"{path}: {response.status_code}")
                except requests.RequestException as exc:
                    errors.append(f"{path}: {type(exc).__name__}")
                big_timings.append((time.perf_counter() - started) * 1000)
                if think:
                    stop.wait(think)

        threads = [threading.Thread(target=hammer, args=(n,), daemon=True) for n in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(2)  # every client has a request in flight
        timed: dict[str, list[float]] = {label: [] for label, _ in TIMED_PATHS}
        ends = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < ends or not all(timed.values()):
            label, path = TIMED_PATHS[n % len(TIMED_PATHS)]
            n += 1
            started = time.perf_counter()
            response = small.get(base + path, timeout=300)
            timed[label].append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                errors.append(f"{path}: {response.status_code}")
        stop.set()
        for thread in threads:
            thread.join(timeout=150)
        return {
            "command": command,
            "clients": clients,
            "think": think,
            "seconds": seconds,
            "big_requests": len(big_timings),
            "big_timings": big_timings,
            "timed": timed,
            "errors": sorted(set(errors))[:10],
            "error_count": len(errors),
        }
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


# -- the run -------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def baseline_tree(ref: str, into: Path) -> tuple[Path, str]:
    if not ref:
        base = subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        ref = base
    commit = subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)  # noqa: S603, S607
    return into, commit


def migrate_to(uri: str, revision: str | None) -> float:
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": uri})
    started = time.perf_counter()
    with app.app_context():
        upgrade(revision=revision or "head")
        db.session.remove()
        db.engine.dispose()
    return time.perf_counter() - started


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.products_pages", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--baseline-requests", type=int, default=3)
    parser.add_argument("--baseline-ref", default="", help="git ref of the 'before' code")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--load-seconds", type=float, default=40.0)
    parser.add_argument(
        "--think", type=float, default=0.0, help="seconds each load client waits between requests"
    )
    parser.add_argument("--no-load", action="store_true", help="skip the part under load")
    parser.add_argument("--port", type=int, default=5371)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db-uri", help=argparse.SUPPRESS)
    parser.add_argument("--targets", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.child and not args.pg_url.rsplit("/", 1)[-1].startswith(PG_DB_PREFIX):
        parser.error(f"--pg-url must name a database starting with {PG_DB_PREFIX!r}")
    return args


def table(rows: list[dict], before: dict[str, dict] | None) -> list[str]:
    lines = [
        f"{'target':<34}{'before ms':>11}{'after ms':>10}{'p90':>8}{'ratio':>8}  "
        f"{'<100ms':<7}what the page says (after)"
    ]
    for row in rows:
        after = statistics.median(row["timings"])
        old = before.get(row["label"]) if before else None
        old_ms = statistics.median(old["timings"]) if old else None
        verdict = "PASS" if after < TARGET_MS and not row["problem"] else "FAIL"
        lines.append(
            f"{row['label']:<34}"
            + (f"{old_ms:>11.1f}" if old_ms is not None else f"{'-':>11}")
            + f"{after:>10.1f}{pct(row['timings'], 0.9):>8.1f}"
            + (f"{old_ms / after:>7.0f}x" if old_ms else f"{'':>8}")
            + f"  {verdict:<7}{row['shown'][:70]}"
            + (f"  PROBLEM: {row['problem']}" if row["problem"] else "")
            + (f"  (before: {old['problem']})" if old and old["problem"] else "")
        )
    return lines


def load_lines(name: str, result: dict) -> list[str]:
    median = statistics.median(result["big_timings"] or [0])
    lines = [
        f"{name}: {result['clients']} clients on the big store for {result['seconds']:.0f} s "
        + (f"(each waiting {result['think']:g} s between requests) " if result["think"] else "")
        + f"({result['big_requests']} requests, median {median:.0f} ms, "
        f"p90 {pct(result['big_timings'], 0.9):.0f} ms; errors: {result['error_count']}"
        + (f" {result['errors']}" if result["errors"] else "")
        + ")"
    ]
    for label, timings in result["timed"].items():
        lines.append(
            f"  {label:<22} n={len(timings):<4} median {statistics.median(timings):>8.0f} ms"
            f"   max {max(timings):>8.0f} ms"
        )
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    os.environ.setdefault("MERCATO_ENV", "test")
    os.environ.setdefault("MERCATO_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    from bench import products_data
    from bench.import_feed import libpq_url, pg_drop, pg_recreate, safe_url, sqlalchemy_url

    libpq = libpq_url(args.pg_url)
    uri = sqlalchemy_url(args.pg_url)
    load_avg = os.getloadavg()
    report: dict = {"loadavg_start": load_avg, "cpus": os.cpu_count()}
    created = False
    before_rows = before_load = None
    work = Path(tempfile.mkdtemp(prefix="mercato-bench-products-"))
    try:
        if args.reuse:
            print(f"reusing {safe_url(libpq)} (no 'before': its indexes are built)", flush=True)
            catalog = products_data.describe(libpq, args.products, args.small)
            args.no_baseline = True
        else:
            print(
                f"creating {safe_url(libpq)}, migrating to the revision before "
                f"{INDEX_REVISION} ...",
                flush=True,
            )
            pg_recreate(libpq)
            created = True

            previous = _previous_revision()
            migrate_to(uri, previous)
            started = time.perf_counter()
            catalog = products_data.load(libpq, args.products, args.small)
            report["load_seconds"] = round(time.perf_counter() - started, 1)
            print(
                f"  loaded {args.small:,} + {args.products:,} products with COPY in "
                f"{report['load_seconds']} s",
                flush=True,
            )
        facts = {
            "big_products": catalog.big_products,
            "small_products": catalog.small_products,
            "first_big_id": catalog.small_products + 1,
            "sample_sku": catalog.sample_sku,
            "sample_gtin": catalog.sample_gtin,
            "rare_line": catalog.rare_line,
            "common_brand": catalog.common_brand,
            "rare_brand": catalog.rare_brand,
        }
        items = targets(facts)
        if not args.no_baseline:
            tree, commit = baseline_tree(args.baseline_ref, work)
            report["baseline_commit"] = commit
            print(
                f"before: the code of {commit} ({args.baseline_requests} requests each) ...",
                flush=True,
            )
            before_rows = run_child(tree, uri, items, args.baseline_requests)
            if not args.no_load:
                print(f"before, under load ({args.clients} clients) ...", flush=True)
                before_load = under_load(
                    tree, libpq, args.port, args.clients, args.load_seconds, args.think
                )
        if not args.reuse:
            print("upgrading to head (building the indexes) ...", flush=True)
            report["upgrade_seconds"] = round(migrate_to(uri, None), 1)
            import psycopg

            with psycopg.connect(libpq, autocommit=True) as conn:
                conn.execute("ANALYZE")
            print(f"  {report['upgrade_seconds']} s", flush=True)
        print(f"after: this tree ({args.requests} requests each) ...", flush=True)
        after_rows = run_child(ROOT, uri, items, args.requests)
        after_load = None
        if not args.no_load:
            print(f"after, under load ({args.clients} clients) ...", flush=True)
            after_load = under_load(
                ROOT, libpq, args.port, args.clients, args.load_seconds, args.think
            )
        report["loadavg_end"] = os.getloadavg()

        print()
        print(
            f"products: big store {args.products:,}, small store {args.small:,}; "
            f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; load average "
            f"{load_avg[0]:.1f} at start, {report['loadavg_end'][0]:.1f} at the end "
            "(the machine is shared)"
        )
        if "upgrade_seconds" in report:
            print(f"migration {INDEX_REVISION} on the loaded tables: {report['upgrade_seconds']} s")
        if before_rows:
            print(
                f"before = {report['baseline_commit']} ({args.baseline_requests} requests), "
                f"after = this tree ({args.requests} requests), same database"
            )
        print()
        before_by_label = {r["label"]: r for r in before_rows} if before_rows else None
        for line in table(after_rows, before_by_label):
            print(line)
        for name, result in (("before", before_load), ("after", after_load)):
            if result:
                print()
                for line in load_lines(name, result):
                    print(line)
        command = (
            "MERCATO_ENV=test scripts/with-redis.sh --fresh .venv/bin/python -m "
            + shlex.join(["bench.products_pages", *(sys.argv[1:] if argv is None else argv)])
        )
        print(f"\nreproduce: {command}")
        report.update(
            command=command,
            catalog=facts,
            before=before_rows,
            after=after_rows,
            before_load=before_load,
            after_load=after_load,
        )
        if args.out:
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=1) + "\n")
            print(f"figures written to {out}")
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        if args.keep or args.reuse:
            print(f"kept: {safe_url(libpq)}")
        elif created:
            pg_drop(libpq)
    return 0


def _previous_revision() -> str:
    """The revision this branch's index migration follows (the schema 'before' ran on)."""
    text = (ROOT / "migrations" / "versions" / f"{INDEX_REVISION}.py").read_text()
    return re.search(r'^down_revision = "([^"]+)"', text, re.M).group(1)


if __name__ == "__main__":
    sys.exit(main())

"""Files that are the sender's fault: compression bombs, damaged archives, absurd nesting.
Each fails its run at once with a sentence that says what is wrong, touches no product,
is not offered again ("it can be run again") and is not retried; a bomb never takes the
worker down (a real one, through the API and a URL, in the real worker process)."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from rq.job import Job, JobStatus
from sqlalchemy import select

from tests.api.conftest import make_person
from tests.imports.bombs import gzip_bomb, zip_bomb
from tests.imports.helpers import import_file, messages, product_count, products, write
from tests.imports.test_url_sources import Route, server  # noqa: F401 (fixture)
from webapp.extensions import db, queue
from webapp.feeds import sweep
from webapp.feeds.defaults import ensure_store_feeds
from webapp.models import Feed, Run
from webapp.models import runs as R
from webapp.runs import lifecycle as feeds

ROOT = Path(__file__).resolve().parent.parent.parent
FEED = b"id,title,price\nF1,Fine,1\nF2,Also fine,2\n"


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    return {
        "gzip": gzip_bomb(folder / "feed.csv.gz"),
        "zip": zip_bomb(folder / "feed.zip"),
        "lying zip": zip_bomb(folder / "lying.zip", gib=1, declared=1000),
    }


def seed(store, tmp_path) -> object:
    """One product, to prove a failing run leaves it alone."""
    import_file(store, write(tmp_path, "seed.csv", "id,title,price\nK1,Keep,1\n"))
    return products(store)["K1"].updated_at


def assert_refused(run: Run, store, kept_at, *words: str) -> None:
    assert run.status == R.FAILED, run.error_message
    for word in words:
        assert word in run.error_message
    assert "internal error" not in run.error_message and "run again" not in run.error_message
    assert product_count() == 1 and products(store)["K1"].updated_at == kept_at


def leftovers(app) -> list[Path]:
    root = Path(app.config["MERCATO_WORK_DIR"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("gzip", ("expands more than 200 times", "compression bomb", "Nothing was imported")),
        ("zip", ("unpacks to 6.0 GB", "compression bomb")),
        ("lying zip", ("zip archive is damaged", "CRC")),
    ],
)
def test_a_compression_bomb_fails_at_once_and_touches_nothing(
    app, store, tmp_path, bombs, kind, words
):
    kept_at = seed(store, tmp_path)
    run = import_file(store, bombs[kind])
    assert_refused(run, store, kept_at, *words)
    assert leftovers(app) == []  # nothing unpacked is left behind


def test_a_file_that_unpacks_past_the_feed_size_limit_is_refused(app, store, tmp_path):
    kept_at = seed(store, tmp_path)
    app.config["MERCATO_FETCH_MAX_BYTES"] = 512 << 10
    rows = "".join(f"B{i},Boxed item {i},{i}.00 EUR\n" for i in range(40_000))
    body = gzip.compress(("id,title,price\n" + rows).encode())
    run = import_file(store, write(tmp_path, "big.csv.gz", body))
    assert_refused(run, store, kept_at, "unpacks to more than the 512.0 kB a feed may be")


def _zip(body: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("feed.csv", body)
    return buffer.getvalue()


BIG = b"id,title,price\n" + b"".join(b"Z%d,Zipped item %d,%d\n" % (i, i, i) for i in range(5000))


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("cut.csv.gz", gzip.compress(BIG)[:-300], "gzip file is truncated"),
        ("short.csv.gz", gzip.compress(BIG)[:20], "gzip file is truncated"),
        ("bad.csv.gz", gzip.compress(BIG)[:200] + b"\x00" * 500, "gzip file is damaged"),
        ("crc.csv.gz", gzip.compress(BIG)[:-8] + b"\x00" * 8, "gzip file is damaged"),
        ("cut.zip", _zip(BIG)[:-200], "zip archive is damaged"),
        ("rot.zip", _zip(BIG)[:100] + b"\xff" * 200 + _zip(BIG)[300:], "zip archive is damaged"),
    ],
    # Not the bytes: a gzip header holds the time it was made, and every process of a
    # parallel run must collect the same test ids.
    ids=lambda value: "data" if isinstance(value, bytes) else None,
)
def test_damaged_archives_are_said_in_words(app, store, tmp_path, name, data, words):
    kept_at = seed(store, tmp_path)
    run = import_file(store, write(tmp_path, name, data))
    assert_refused(run, store, kept_at, words)
    assert leftovers(app) == []


def test_deeply_nested_xml_is_the_files_fault(store, tmp_path):
    kept_at = seed(store, tmp_path)
    deep = "<products>" + "<a>" * 5000 + "</a>" * 5000 + "</products>"
    run = import_file(store, write(tmp_path, "deep.xml", deep))
    assert_refused(run, store, kept_at, "The XML nests deeper than 100 levels")


def test_nesting_after_good_products_keeps_them_and_says_why_it_stopped(store, tmp_path):
    good = "".join(f"<product><id>X{i}</id><title>T{i}</title></product>" for i in range(3))
    body = f"<products>{good}<product><id>X9</id>{'<a>' * 500}{'</a>' * 500}</product></products>"
    run = import_file(store, write(tmp_path, "deep.xml", body))
    assert (run.status, run.imported_count, run.error_count) == (R.COMPLETED_WITH_ERRORS, 3, 1)
    assert "nests deeper than 100 levels (after row 4)" in messages(run)[0].error_message


def test_deeply_nested_json_is_the_files_fault(store, tmp_path):
    kept_at = seed(store, tmp_path)
    run = import_file(store, write(tmp_path, "deep.json", "[" * 5000 + "]" * 5000))
    assert_refused(run, store, kept_at, "The JSON nests deeper than 100 levels")


def test_a_json_product_nested_too_deep_is_that_rows_error(store, tmp_path):
    deep: dict = {}
    inner = deep
    for _ in range(150):
        inner["more"] = {}
        inner = inner["more"]
    items = [{"id": "J1", "title": "One"}, {"id": "J2", "title": "Two", "x": deep}]
    items.append({"id": "J3", "title": "Three"})
    run = import_file(store, write(tmp_path, "deep.json", json.dumps({"products": items})))
    assert (run.status, run.imported_count, run.error_count) == (R.COMPLETED_WITH_ERRORS, 2, 1)
    (message,) = messages(run)
    assert message.row_number == 3 and "nest deeper than 100 levels" in message.error_message
    assert set(products(store)) == {"J1", "J3"}


# -- in the real worker process --------------------------------------------------------------


# A worker process of the app holds ~140-200 MB before any job (one run measured 452 MB
# with the machine loaded and a fresh venv); the bomb unpacked in memory would be 6 GiB.
PEAK_MB = 1024


def run_worker(app, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    """``python -m jobs.worker --burst`` as production runs it; (its result, the peak
    resident memory in MB of the worker and the work-horses it forked)."""
    cfg = app.config
    db.session.rollback()
    environ = {
        **os.environ,
        "MERCATO_ENV": "test",
        "DATABASE_URL": cfg["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": cfg["REDIS_URL"],
        "MERCATO_WORK_DIR": cfg["MERCATO_WORK_DIR"],
        "SECRET_KEY": cfg["SECRET_KEY"],
        "MERCATO_ENCRYPTION_KEYS": ",".join(cfg["MERCATO_ENCRYPTION_KEYS"]),
        "MERCATO_QUEUE_PREFIX": cfg["MERCATO_QUEUE_PREFIX"],
        "MERCATO_LOG_LEVEL": "WARNING",
        **env,
    }
    # The worker reports its own and its children's peak memory as it exits.
    script = (
        "import atexit, resource, runpy, sys\n"
        "def peak():\n"
        "    kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "    print(f'PEAK_RSS_MB {kib / 1024:.0f}', file=sys.stderr)\n"
        "atexit.register(peak)\n"
        "sys.argv = ['jobs.worker', '--burst']\n"
        "runpy.run_module('jobs.worker', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    peaks = [float(line.split()[1]) for line in done.stderr.splitlines() if "PEAK_RSS_MB" in line]
    return done, (peaks[-1] if peaks else float("nan"))


def fresh(run_id: int) -> Run:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Run, run_id)


def assert_not_retried(run: Run) -> None:
    imports = queue("imports")
    job = Job.fetch(run.rq_job_id, connection=imports.connection) if run.rq_job_id else None
    if job is not None:
        assert job.get_status() == JobStatus.FINISHED  # a failed job would be RQ's to retry
    for name in ("imports", "default"):
        q = queue(name)
        assert q.count == 0 and q.scheduled_job_registry.count == 0
        assert q.failed_job_registry.count == 0
    assert sweep.sweep().get("abandoned", []) == []
    assert sweep.retry_failed() == {"retried": []}


def test_an_uploaded_bomb_fails_in_the_worker_which_stays_small(app, store, tmp_path, bombs):
    kept_at = seed(store, tmp_path)
    shop = make_person(app, "shop@example.com", store=store)
    response = shop.api.upload(
        "/store/marketplace/import", bombs["gzip"].read_bytes(), name="feed.csv.gz"
    )
    assert response.status_code == 202, response.get_json()
    run_id = response.get_json()["job_id"]

    done, peak_mb = run_worker(app)
    assert done.returncode == 0, done.stderr[-3000:]
    run = fresh(run_id)
    assert_refused(run, store, kept_at, "compression bomb")
    assert peak_mb < PEAK_MB, done.stderr[-2000:]  # 6 GiB of zeros never came near memory
    job = shop.api.get(f"/store/marketplace/imports/{run_id}").get_json()
    assert job["status"] == "failed" and "compression bomb" in job["error_message"]
    assert_not_retried(run)
    assert leftovers(app) == []


def test_a_bomb_behind_a_feed_url_fails_in_the_worker_and_is_not_retried(
    app,
    store,
    tmp_path,
    bombs,
    server,  # noqa: F811
):
    kept_at = seed(store, tmp_path)
    server.routes["/feed.zip"] = Route(body=bombs["zip"].read_bytes())
    store.letzshop_csv_url_en = server.url("/feed.zip")
    ensure_store_feeds(store)
    db.session.commit()
    feed = db.session.scalar(select(Feed).where(Feed.store_id == store.id))
    feed.enabled = True
    db.session.commit()
    started = feeds.start_feed(feed, "run_now")
    assert started.started
    run_id = started.run.id

    done, peak_mb = run_worker(app, MERCATO_OUTBOUND_ALLOW=f"127.0.0.1:{server.port}")
    assert done.returncode == 0, done.stderr[-3000:]
    run = fresh(run_id)
    assert_refused(run, store, kept_at, "unpacks to 6.0 GB", "compression bomb")
    assert peak_mb < PEAK_MB, done.stderr[-2000:]
    assert_not_retried(run)
    assert leftovers(app) == []

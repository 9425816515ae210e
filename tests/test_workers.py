"""A parallel test run (pytest-xdist, tests/workers.py): each worker its own PostgreSQL
database, Redis and folders, and the modules with a module-scoped fixture on one worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import pg_url
from tests.workers import (
    SLOW_TESTS_FILE,
    ModuleFixtureGroups,
    ensure_database,
    longest_first,
    redis_url_with_db,
    slow_tests,
    worker_database_url,
)

ROOT = Path(__file__).resolve().parent.parent


def test_a_worker_database_is_named_after_the_worker():
    assert (
        worker_database_url("postgresql://127.0.0.1:5432/test", "gw0")
        == "postgresql://127.0.0.1:5432/test_gw0"
    )
    assert (
        worker_database_url("postgresql+psycopg://me:s3cret@db.example:6543/ci?sslmode=x", "gw12")
        == "postgresql+psycopg://me:s3cret@db.example:6543/ci_gw12?sslmode=x"
    )


def test_a_given_redis_is_shared_out_by_database_number():
    assert redis_url_with_db("redis://127.0.0.1:6379/2", 3) == "redis://127.0.0.1:6379/5"
    assert redis_url_with_db("redis://127.0.0.1:6379", 1) == "redis://127.0.0.1:6379/1"
    assert redis_url_with_db("rediss://:pw@cache:6380/0", 2) == "rediss://:pw@cache:6380/2"
    assert redis_url_with_db("unix:///run/r.sock?db=1", 2) == "unix:///run/r.sock?db=3"
    assert redis_url_with_db("unix:///run/r.sock", 1) == "unix:///run/r.sock?db=1"


def test_modules_with_a_wide_fixture_are_one_work_unit(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_a(): pass\n")
    (tmp_path / "test_built.py").write_text(
        "import pytest\n@pytest.fixture(scope='module')\ndef built(): return 1\n"
    )
    (tmp_path / "classy").mkdir()
    (tmp_path / "classy" / "conftest.py").write_text('@fixture(scope="class")\n')
    (tmp_path / "classy" / "test_x.py").write_text("")
    (tmp_path / "pkg" / "deep").mkdir(parents=True)
    (tmp_path / "pkg" / "conftest.py").write_text("@pytest.fixture(scope = 'package')\n")
    (tmp_path / "pkg" / "deep" / "test_y.py").write_text("")
    groups = ModuleFixtureGroups(tmp_path)
    assert groups.scope("test_plain.py::test_a[x]") == "test_plain.py::test_a[x]"
    assert groups.scope("test_built.py::test_b[sqlite]") == "test_built.py"
    assert groups.scope("test_built.py::Klass::test_c") == "test_built.py"
    assert groups.scope("classy/test_x.py::test_d") == "classy/test_x.py"
    assert groups.scope("pkg/deep/test_y.py::test_e") == "pkg"
    assert groups.scope("test_plain.py::test_a@heavy") == "heavy"
    assert groups.scope("test_plain.py::test_a[a@b]") == "test_plain.py::test_a[a@b]"


PROBE = """
import json, os
from pathlib import Path

import pytest
from redis import Redis


def record(name):
    redis = Redis.from_url(os.environ["REDIS_URL"])
    assert redis.incr("probe") >= 1
    Path(os.environ["PROBE_OUT"], name + ".json").write_text(json.dumps({
        "worker": os.environ.get("PYTEST_XDIST_WORKER"),
        "database": os.environ.get("TEST_DATABASE_URL"),
        "redis": os.environ["REDIS_URL"],
        "redis_pid": redis.info("server")["process_id"],
        "work_dir": os.environ.get("MERCATO_WORK_DIR"),
    }))
"""


def test_the_longest_work_units_are_handed_out_first(tmp_path):
    listed = tmp_path / "slow.txt"
    listed.write_text(
        "# comment\n30 t/test_b.py::test_slow[sqlite]  # one back-end\n12 t/test_c.py::test_c\n"
    )
    slow = slow_tests(listed)
    assert slow == {"t/test_b.py::test_slow[sqlite]": 30.0, "t/test_c.py::test_c": 12.0}
    units = {
        "t/test_a.py::test_a": {"t/test_a.py::test_a": False},
        "t/test_grouped.py": {f"t/test_grouped.py::test_{n}": False for n in range(100)},
        "t/test_b.py::test_slow[sqlite]": {"t/test_b.py::test_slow[sqlite]": False},
        "t/test_c.py::test_c[postgresql]": {"t/test_c.py::test_c[postgresql]": False},
        "t/test_d.py::test_d": {"t/test_d.py::test_d": False},
    }
    # 30 s, a module of 100 unlisted tests (20 s), 12 s (listed without its parameters),
    # then the unlisted ones in the order collected.
    assert longest_first(units, slow) == [
        "t/test_b.py::test_slow[sqlite]",
        "t/test_grouped.py",
        "t/test_c.py::test_c[postgresql]",
        "t/test_a.py::test_a",
        "t/test_d.py::test_d",
    ]
    assert slow_tests(tmp_path / "missing.txt") == {}
    # The suite's own list names tests that exist.
    for nodeid in slow_tests(SLOW_TESTS_FILE):
        assert (ROOT / nodeid.split("::", 1)[0]).is_file(), nodeid


def test_each_worker_of_a_parallel_run_has_its_own_database_redis_and_folders(tmp_path):
    """A real ``pytest -n 2`` with our conftest on a probe suite: 8 single tests (shared out
    one by one) and a module of 4 using a module-scoped fixture (on one worker)."""
    suite, out = tmp_path / "suite", tmp_path / "out"
    suite.mkdir()
    out.mkdir()
    (suite / "probe.py").write_text(PROBE)
    (suite / "test_single.py").write_text(
        "import pytest\nfrom probe import record\n\n\n"
        "@pytest.mark.parametrize('n', range(8))\n"
        "def test_single(n):\n    record(f'single{n}')\n"
    )
    (suite / "test_grouped.py").write_text(
        "import pytest\nfrom probe import record\n\n\n"
        "@pytest.fixture(scope='module')\ndef built():\n    return 1\n\n\n"
        "@pytest.mark.parametrize('n', range(4))\n"
        "def test_grouped(built, n):\n    record(f'grouped{n}')\n"
    )
    env = {
        **os.environ,
        "PROBE_OUT": str(out),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{suite}",
        "MERCATO_ENV": "test",
    }
    env.pop("PYTEST_XDIST_WORKER", None)  # this test may itself run in a worker
    base = os.environ.get("TEST_DATABASE_URL")
    if base:  # databases of its own: <db>_probe, <db>_probe_gw0... (never another run's)
        base = worker_database_url(base, "probe")
        ensure_database(base, through=os.environ["TEST_DATABASE_URL"])
        env["TEST_DATABASE_URL"] = base
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-n", "2"]
        + ["--dist", "loadgroup", "--rootdir", str(suite), "-c", os.devnull, str(suite)],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "12 passed" in done.stdout, done.stdout[-2000:]
    seen = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert len(seen) == 12
    by_worker: dict[str, dict] = {}
    for record in seen.values():
        mine = {k: record[k] for k in ("database", "redis", "redis_pid", "work_dir")}
        assert by_worker.setdefault(record["worker"], mine) == mine, "one worker, one set"
    assert set(by_worker) == {"gw0", "gw1"}, "both workers ran tests"
    gw0, gw1 = by_worker["gw0"], by_worker["gw1"]
    for key in ("redis", "redis_pid", "work_dir"):
        assert gw0[key] != gw1[key], key
    assert len({seen[f"grouped{n}"]["worker"] for n in range(4)}) == 1

    if base:
        assert (gw0["database"], gw1["database"]) == (
            worker_database_url(base, "gw0"),
            worker_database_url(base, "gw1"),
        )
        engine = create_engine(pg_url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for url in (gw0["database"], gw1["database"], base):
                conn.execute(text(f'DROP DATABASE "{make_url(url).database}"'))
        engine.dispose()
    else:
        assert gw0["database"] is gw1["database"] is None

    if not os.environ.get("TEST_REDIS_URL"):  # private servers: stopped with their worker
        deadline = time.monotonic() + 10
        for worker in by_worker.values():
            while Path(f"/proc/{worker['redis_pid']}").exists():
                assert time.monotonic() < deadline, "a worker's redis-server outlived it"
                time.sleep(0.05)
        assert not Path(gw0["work_dir"]).exists() and not Path(gw1["work_dir"]).exists()


@pytest.mark.skipif(
    "PYTEST_XDIST_WORKER" not in os.environ, reason="only in a parallel run (make test)"
)
def test_this_worker_has_its_own_database_and_redis(redis_conn):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    base = os.environ.get("MERCATO_TEST_DATABASE_BASE")
    if base:
        assert os.environ["TEST_DATABASE_URL"] == worker_database_url(base, worker)
    from tests.conftest import _WORKER_RESOURCES

    assert _WORKER_RESOURCES is not None and _WORKER_RESOURCES.worker == worker
    if _WORKER_RESOURCES.redis is not None:
        pid = redis_conn.info("server")["process_id"]
        assert pid == _WORKER_RESOURCES.redis.process.pid

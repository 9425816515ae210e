"""Ship actions out, against the sandbox (no added latency): record, send, follow.

The sandbox runs in its own process (as Lengow would), with actions processed at the first
read of the actions list that shows them. On PostgreSQL (a throwaway database: its public
schema is rebuilt), a store with a live Lengow account (5622) whose orders were imported
beforehand (not timed) ships N orders that are waiting for shipment, and the run prints:

- record: N ``record_shipment`` calls, each its own transaction (the shipment, its ship action,
  the quantities, the events, the status and the outbound call), as the page, the CLI or the
  API records one;
- send: the one sender (``send_owed``: the ``send_outbound`` flow) sending the N calls due;
- follow: the shipping confirmation feed reading the account's actions back, a page at a time,
  until every action is processed (``send_and_follow``);
- the sandbox's serving floor, measured in the same run: the same N action POSTs (the exact
  bodies Mercato records, built by the connector for another sandbox account, 6395), sent with
  one ``requests.Session`` from one process, half before the steps and half after (the same
  load and sandbox size as the steps see), and every page of the bench account's actions list
  read the same way right after the follow: what the sandbox can serve;
- the ratio of each step's rate to its floor (target: send >= 0.5 of the POST floor), and the
  resident memory of this process when 2,500, 5,000, 7,500 and 10,000 (quarters of N) were
  recorded, sent and processed (read by a watcher thread from the database), which should stay
  flat.

Run: MERCATO_ENV=test scripts/with-redis.sh --fresh .venv/bin/python -m bench.ship_actions
[--actions 10000] [--orders 30000] [--postgresql postgresql://127.0.0.1:5432/test_apiship_bench]
[--profile send|record|follow] (pyinstrument, when installed: a text profile of that step).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("MERCATO_ENV", "test")

from bench.import_orders import RssSampler, reset_postgresql, rss_mb  # noqa: E402

BENCH_ACCOUNT = "5622"
FLOOR_ACCOUNT = "6395"
DEFAULT_POSTGRESQL = "postgresql://127.0.0.1:5432/test_apiship_bench"


def serve_sandbox(orders: int, history_days: float, ready) -> None:
    """The sandbox in a child process, request logging off; actions processed at the first
    read of the list that shows them."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from sandbox.app import create_sandbox_app

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    app = create_sandbox_app(
        {
            "SANDBOX_ORDERS": orders,
            "SANDBOX_STEP_SECONDS": 86400,
            # Young orders: few have shipped or closed yet.
            "SANDBOX_HISTORY_DAYS": history_days,
            "SANDBOX_ACCOUNTS": [int(BENCH_ACCOUNT), int(FLOOR_ACCOUNT)],
            "SANDBOX_ACTION_SECONDS": 0,
            "SANDBOX_ACTION_POLLS": 1,
        }
    )
    # Every open order of the two accounts waits for shipment (young orders are mostly still
    # new or waiting for acceptance): the bench ships them.
    world = app.extensions["sandbox"].world
    for channel in (int(BENCH_ACCOUNT), int(FLOOR_ACCOUNT)):
        for order in world.channels[channel]:
            if order.status in ("new", "waiting_acceptance", "accepted"):
                order.status = "waiting_shipment"
                order._json = None
    app.extensions["sandbox"].warm()
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    ready.put(server.server_port)
    server.serve_forever()


class Checkpoints:
    """This process's RSS when a count (an SQL query, read every 50 ms on a connection of its
    own) reaches each mark: memory against progress of a step that runs as one call."""

    def __init__(self, url: str, sql: str, account_id: int, marks: list[int]):
        from sqlalchemy import create_engine

        self.engine = create_engine(url)
        self.sql, self.account_id, self.marks = sql, account_id, marks
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _check(self, conn) -> None:
        from sqlalchemy import text

        count = conn.execute(text(self.sql), {"account": self.account_id}).scalar() or 0
        for mark in self.marks:
            if count >= mark and mark not in self.seen:
                self.seen[mark] = rss_mb()

    def _run(self):
        with self.engine.connect() as conn:
            while not self._stop.wait(0.05):
                self._check(conn)
                conn.rollback()

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        with self.engine.connect() as conn:
            self._check(conn)
        self.engine.dispose()


def profiled(enabled: bool):
    if not enabled:
        return None
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("(pyinstrument is not installed: no profile)")
        return None
    return Profiler(interval=0.001)


def carrier_for(rules, channel: str) -> str:
    market = (rules or {}).get(channel)
    if market is not None and market.carriers:
        return sorted(market.carriers)[0]
    return "colissimo"


def make_account(store, base: str, account_id: str, name: str):
    from webapp.accounts import create_account

    return create_account(
        store,
        "lengow",
        name,
        settings={"account_id": account_id, "base_url": f"http://{base}"},
        secrets={
            "access_token": f"sandbox-access-{account_id}",
            "secret": f"sandbox-secret-{account_id}",
        },
        by="bench",
    )


def waiting_orders(account, count: int) -> list[int]:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import Order

    ids = db.session.scalars(
        select(Order.id)
        .where(Order.account_id == account.id, Order.status == "confirmed")
        .order_by(Order.id)
    ).all()
    if len(ids) < count:
        total = db.session.scalar(
            select(func.count()).select_from(Order).where(Order.account_id == account.id)
        )
        raise SystemExit(
            f"only {len(ids)} of the {account.id} account's orders wait for shipment "
            f"(of {total}); give more --orders"
        )
    return list(ids)


def record_all(account, order_ids: list[int], count: int, marks, tag: str) -> tuple[int, list]:
    """Record ``count`` shipments (one transaction each); (recorded, [(mark, rss)])."""
    from webapp.extensions import db
    from webapp.models import Order
    from webapp.orders import marketplace_rules
    from webapp.orders.fulfilment import Refused, record_shipment

    rules = marketplace_rules.rules_for(account)
    recorded, refused, memory = 0, {}, []
    for order_id in order_ids:
        if recorded >= count:
            break
        order = db.session.get(Order, order_id)
        try:
            record_shipment(
                order,
                carrier_for(rules, order.channel),
                None,
                f"{tag}-{order_id}",
                None,
                by="bench",
            )
        except Refused as exc:
            refused[exc.problems[0]] = refused.get(exc.problems[0], 0) + 1
            continue
        recorded += 1
        if recorded in marks:
            memory.append((recorded, rss_mb()))
    for problem, times in sorted(refused.items(), key=lambda p: -p[1])[:3]:
        print(f"  (refused {times}x: {problem})")
    return recorded, memory


def floor_bodies(account, order_ids: list[int]) -> list[dict]:
    """The exact bodies Mercato would record for the floor account's ship actions, built by
    the account's connector as :func:`webapp.outbound.record.call_row` builds them."""
    from sqlalchemy import select

    from webapp.connector import connector_for
    from webapp.extensions import db
    from webapp.models import Order
    from webapp.orders import marketplace_rules

    connector = connector_for(account)
    rules = marketplace_rules.rules_for(account, connector)
    bodies = []
    for channel, channel_order_id, order_id in db.session.execute(
        select(Order.channel, Order.channel_order_id, Order.id).where(Order.id.in_(order_ids))
    ):
        params = {
            "channel": channel,
            "channel_order_id": channel_order_id,
            "carrier": carrier_for(rules, channel),
            "tracking_number": f"FLOOR-{order_id}",
        }
        request = connector.outbound_request("order.ship", params)
        bodies.append(connector.describe(request)["body"])
    return bodies


def token(session, base: str, account_id: str) -> str:
    answer = session.post(
        f"http://{base}/access/get_token",
        data={
            "access_token": f"sandbox-access-{account_id}",
            "secret": f"sandbox-secret-{account_id}",
        },
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["token"]


def post_floor(base: str, bodies: list[dict]) -> tuple[int, float]:
    """Every body POSTed to the actions endpoint with one requests.Session: (created, s)."""
    import requests

    with requests.Session() as session:
        session.headers["Authorization"] = token(session, base, FLOOR_ACCOUNT)
        url = f"http://{base}/v3.0/orders/actions/"
        started = time.perf_counter()
        created = 0
        for body in bodies:
            answer = session.post(url, json=body, timeout=30)
            created += answer.status_code in (200, 201)
        return created, time.perf_counter() - started


def list_floor(base: str, account_id: str) -> tuple[int, float]:
    """Every page of an account's actions list (100 a page) with one requests.Session."""
    import requests

    with requests.Session() as session:
        session.headers["Authorization"] = token(session, base, account_id)
        url = f"http://{base}/v3.0/orders/actions/"
        started = time.perf_counter()
        count, page = 0, 1
        while True:
            answer = session.get(
                url, params={"account_id": account_id, "page": page, "page_size": 100}, timeout=60
            )
            answer.raise_for_status()
            data = answer.json()
            count += len(data["results"])
            if not data["next"]:
                break
            page += 1
        return count, time.perf_counter() - started


def bench(url: str, base: str, workdir: Path, count: int, profile: str | None) -> dict:
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Store
    from webapp.orders import marketplace_rules
    from webapp.orders.service import import_orders
    from webapp.orders.shipping import send_and_follow
    from webapp.outbound import go_live, send_owed
    from webapp.runs import lifecycle

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "MERCATO_OUTBOUND_ALLOW": [base],
            "MERCATO_WORK_DIR": str(workdir),
        }
    )
    marks = [count * q // 4 for q in (1, 2, 3, 4)]
    out: dict = {"marks": marks}
    with app.app_context():
        upgrade()
        store = Store(code="bench", name="Bench")
        db.session.add(store)
        db.session.commit()
        # Setup (not timed): both accounts' orders imported in test mode; the bench account
        # goes live with its acknowledgements discarded (the bench is about ship actions).
        started = time.perf_counter()
        live = make_account(store, base, BENCH_ACCOUNT, "Bench live")
        floor_account = make_account(store, base, FLOOR_ACCOUNT, "Bench floor")
        for account in (live, floor_account):
            run = import_orders(account)
            assert run.status != "failed", run.error_message
            marketplace_rules.refresh(account)
        out["floor_bodies"] = floor_bodies(
            floor_account, waiting_orders(floor_account, count)[:count]
        )
        go_live(live, by="bench", discard=True)
        feed = lifecycle.account_feed(live, "shipping_confirmation")
        lifecycle.set_enabled(feed, True)
        db.session.commit()
        order_ids = waiting_orders(live, count)
        out["setup_seconds"] = time.perf_counter() - started
        # The POST floor: half before the steps, half after, so it sees the machine's load
        # and the sandbox's size as the steps do.
        bodies = out.pop("floor_bodies")
        half = len(bodies) // 2
        floor_first = post_floor(base, bodies[:half])

        # Record.
        profiler = profiled(profile == "record")
        with RssSampler() as memory:
            if profiler:
                profiler.start()
            started = time.perf_counter()
            recorded, record_marks = record_all(live, order_ids, count, set(marks), "SHIP")
            out["record"] = (recorded, time.perf_counter() - started, memory, record_marks)
            if profiler:
                profiler.stop()
                out["profile"] = profiler.output_text(unicode=False, color=False)

        # Send.
        profiler = profiled(profile == "send")
        sent_sql = (
            "SELECT count(*) FROM outbound_calls WHERE status = 'sent' "
            "AND action = 'order.ship' AND account_id = :account"
        )
        with RssSampler() as memory, Checkpoints(url, sent_sql, live.id, marks) as seen:
            if profiler:
                profiler.start()
            started = time.perf_counter()
            summary = send_owed(live, trigger="bench")
            out["send"] = (summary["sent"], time.perf_counter() - started, memory, seen)
            if profiler:
                profiler.stop()
                out["profile"] = profiler.output_text(unicode=False, color=False)
        out["send_failed"] = summary["failed"]

        # Follow.
        profiler = profiled(profile == "follow")
        processed_sql = (
            "SELECT count(*) FROM order_actions WHERE state = 'processed' AND account_id = :account"
        )
        with RssSampler() as memory, Checkpoints(url, processed_sql, live.id, marks) as seen:
            if profiler:
                profiler.start()
            started = time.perf_counter()
            followed = send_and_follow(live, wait=300, trigger="bench")
            out["follow"] = (followed["processed"], time.perf_counter() - started, memory, seen)
            if profiler:
                profiler.stop()
                out["profile"] = profiler.output_text(unicode=False, color=False)
        out["followed"] = followed
        # The list floor right after the follow, on the same account's list (same size).
        out["list_floor"] = list_floor(base, BENCH_ACCOUNT)
        floor_second = post_floor(base, bodies[half:])
        out["post_floor"] = (
            floor_first[0] + floor_second[0],
            floor_first[1] + floor_second[1],
        )
        out["live_account"] = live.id
        db.session.remove()
        db.engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument(
        "--orders", type=int, default=12_000, help="sandbox orders per account (some wait)"
    )
    parser.add_argument(
        "--postgresql",
        default=os.environ.get("BENCH_POSTGRESQL_URL", DEFAULT_POSTGRESQL),
        help="a throwaway PostgreSQL database (its public schema is rebuilt)",
    )
    parser.add_argument(
        "--history-days",
        type=float,
        default=0.5,
        help="the sandbox's orders are this young (days): few have shipped or closed",
    )
    parser.add_argument("--profile", choices=("record", "send", "follow"))
    args = parser.parse_args()

    import logging

    logging.getLogger("mercato").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from webapp.config import database_url

    url = database_url(args.postgresql)
    context = multiprocessing.get_context("fork")
    ready = context.Queue()
    sandbox = context.Process(
        target=serve_sandbox, args=(args.orders, args.history_days, ready), daemon=True
    )
    sandbox.start()
    base = f"127.0.0.1:{ready.get(timeout=900)}"
    workdir = Path(tempfile.mkdtemp(prefix="mercato-ship-bench-"))
    try:
        reset_postgresql(url)
        out = bench(url, base, workdir, args.actions, args.profile)
        created, post_seconds = out["post_floor"]
        listed, list_seconds = out["list_floor"]
    finally:
        sandbox.terminate()
        sandbox.join()

    n = args.actions
    post_rate = created / post_seconds
    list_rate = listed / list_seconds
    print(f"sandbox: {args.orders:,} orders per account, own process, no added latency")
    print(f"PostgreSQL; setup (imports, floor bodies; not timed): {out['setup_seconds']:.0f} s")
    print(
        "serving floor, POST actions (one requests.Session, half before, half after): "
        f"{created:,} in {post_seconds:5.2f} s = {post_rate:7,.0f} actions/s"
    )
    print(
        f"serving floor, actions list (100 a page): {listed:,} in {list_seconds:5.2f} s = "
        f"{list_rate:7,.0f} actions/s"
    )
    for step, floor_rate in (("record", None), ("send", post_rate), ("follow", list_rate)):
        done, seconds, memory, marks = out[step]
        rate = done / seconds
        share = f" = {rate / floor_rate:4.2f} of its floor" if floor_rate else ""
        if isinstance(marks, Checkpoints):
            marks = sorted(marks.seen.items())
        at = ", ".join(f"{m:,}: {mb:.0f}" for m, mb in marks)
        print(
            f"{step:6s}: {done:,} in {seconds:6.2f} s = {rate:7,.0f} actions/s{share}; "
            f"RSS {memory.before:.0f} -> peak {memory.peak:.0f} -> {memory.after:.0f} MB; "
            f"RSS at {at} MB"
        )
    followed = out["followed"]
    print(
        f"follow: {followed['runs']} execution(s) of the shipping feed; processed "
        f"{followed['processed']:,}, failed {followed['failed']}, still queued "
        f"{followed['queued']}; send failures {out['send_failed']}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"bench process peak RSS over the whole run: {peak:.0f} MB")
    print("target: send >= 0.5 of the POST floor, memory flat")
    print(
        f"reproduce: python -m bench.ship_actions --actions {n} --orders {args.orders} "
        f"--history-days {args.history_days}"
    )
    if out.get("profile"):
        print(out["profile"])


if __name__ == "__main__":
    main()

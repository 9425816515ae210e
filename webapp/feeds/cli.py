"""``flask feeds list|run|schedule|enable|disable|reconcile|sweep``."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.feeds import queries
from webapp.models import Feed, Store
from webapp.models import runs as R

feeds_cli = AppGroup("feeds", help="Feeds, their schedules and executions.")


def _feed(feed_id: int) -> Feed:
    feed = db.session.get(Feed, feed_id)
    if feed is None:
        raise click.ClickException(f"No feed {feed_id}.")
    return feed


def _iso(value) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def feed_record(feed: Feed, last_run=None) -> dict:
    job = feed.schedule
    return {
        "id": feed.id,
        "store": feed.store.code,
        "account_id": feed.account_id,
        "kind": feed.kind,
        "direction": feed.direction,
        "built": feed.is_built,
        "enabled": feed.enabled,
        "schedule": job.text if job else None,
        "scheduled": queries.is_scheduled(feed),
        "last_run": (
            {"id": last_run.id, "status": last_run.status, "at": _iso(last_run.created_at)}
            if last_run
            else None
        ),
        "next_run": _iso(job.next_run_at) if job and queries.is_scheduled(feed) else None,
    }


@feeds_cli.command("list")
@click.option("--store", "store_code")
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json"]))
def list_feeds(store_code: str | None, fmt: str) -> None:
    """Every feed (of one store), with its schedule, last and next run."""
    query = (
        select(Feed)
        .options(joinedload(Feed.store), joinedload(Feed.account), joinedload(Feed.schedule))
        .order_by(Feed.store_id, Feed.id)
    )
    if store_code:
        store = db.session.scalar(select(Store).where(Store.code == store_code))
        if store is None:
            raise click.ClickException(f"No store with code {store_code!r}.")
        query = query.where(Feed.store_id == store.id)
    feeds = list(db.session.scalars(query))
    last = queries.last_runs([f.id for f in feeds])
    for feed in feeds:
        record = feed_record(feed, last.get(feed.id))
        if fmt == "json":
            click.echo(json.dumps(record))
        else:
            last_run = record["last_run"]
            click.echo(
                f"{feed.id:>5}  {record['store']:<12} {str(feed.account_id or '-'):>7}  "
                f"{feed.kind:<22} {feed.direction:<3} "
                f"{('on ' if feed.enabled else 'off') if feed.is_built else 'not built'}  "
                f"{record['schedule'] or '-':<20} "
                f"last={last_run['status'] + '#' + str(last_run['id']) if last_run else '-'} "
                f"next={record['next_run'] or '-'}"
            )


@feeds_cli.command("run")
@click.argument("feed_id", type=int)
@click.option(
    "--fix",
    is_flag=True,
    help="A stock check only: also send the corrections of the drifts it finds.",
)
def run(feed_id: int, fix: bool) -> None:
    """Execute a feed inline; the last line printed is the execution's JSON summary."""
    from webapp.runs.lifecycle import FeedError, already_running, run_feed

    feed = _feed(feed_id)
    if fix and feed.kind != "stock_check":
        click.echo(f"--fix is for a stock check feed; feed {feed_id} is {feed.kind}.", err=True)
        sys.exit(2)
    try:
        started = run_feed(feed_id, "fix" if fix else "cli")
    except FeedError as exc:
        _refuse(feed_id, exc)
    result = started.run
    if not started.started:
        click.echo(already_running(result), err=True)
        click.echo(json.dumps({**queries.summary(result), "already_running": True}))
        sys.exit(1)
    if result.error_message:
        click.echo(f"Execution failed: {result.error_message}", err=True)
    click.echo(json.dumps(queries.summary(result)))
    if result.status in (R.FAILED, R.ABANDONED):
        sys.exit(1)


@feeds_cli.command("schedule")
@click.argument("feed_id", type=int)
@click.option("--every", help="An interval: 5m, 15m, 6h, 1d (at least 1 minute).")
@click.option("--cron", "cron", help='A five-field cron expression, e.g. "*/5 * * * *" (UTC).')
def schedule_(feed_id: int, every: str | None, cron: str | None) -> None:
    """Change a feed's schedule; the scheduler follows at once."""
    from webapp.feeds.schedule import ScheduleError, reconcile_quietly, set_schedule

    if (every is None) == (cron is None):
        raise click.UsageError("Give exactly one of --every or --cron.")
    feed = _feed(feed_id)
    try:
        set_schedule(feed.schedule, every=every, cron=cron)
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    _applied(reconcile_quietly([feed.id]))
    click.echo(json.dumps(feed_record(feed, queries.last_runs([feed.id]).get(feed.id))))


def _refuse(feed_id: int, exc: Exception) -> None:
    """A refusal: the reason on stderr, a JSON line saying so last, exit status 1."""
    click.echo(f"Error: {exc}", err=True)
    click.echo(json.dumps({"feed_id": feed_id, "refused": str(exc)}))
    sys.exit(1)


def _toggle(feed_id: int, enabled: bool) -> None:
    from webapp.feeds.schedule import reconcile_quietly
    from webapp.runs.lifecycle import FeedError, set_enabled

    feed = _feed(feed_id)
    try:
        set_enabled(feed, enabled)
    except FeedError as exc:
        db.session.rollback()
        _refuse(feed_id, exc)
    db.session.commit()
    _applied(reconcile_quietly([feed.id]))
    click.echo(json.dumps(feed_record(feed, queries.last_runs([feed.id]).get(feed.id))))


def _applied(ok: bool) -> None:
    if not ok:
        click.echo(
            "Saved; the scheduler could not be reached and follows at its next reconcile.",
            err=True,
        )


@feeds_cli.command("enable")
@click.argument("feed_id", type=int)
def enable(feed_id: int) -> None:
    """Let the feed run (on its schedule and with Run now)."""
    _toggle(feed_id, True)


@feeds_cli.command("disable")
@click.argument("feed_id", type=int)
def disable(feed_id: int) -> None:
    """Stop the feed: it leaves the scheduler at once."""
    _toggle(feed_id, False)


@feeds_cli.command("reconcile")
def reconcile_cmd() -> None:
    """Create missing default feeds, then make rq-scheduler match scheduled_jobs."""
    from webapp.feeds.defaults import ensure_all
    from webapp.feeds.schedule import reconcile

    created = ensure_all()
    click.echo(json.dumps({"created_feeds_or_jobs": created, **reconcile().as_dict()}))


@feeds_cli.command("sweep")
def sweep_cmd() -> None:
    """Mark executions whose worker died as abandoned, and retry them."""
    from webapp.feeds.sweep import sweep

    click.echo(json.dumps(sweep()))

"""Operators' commands: ``flask stores|users|imports|demo|secrets|tokens ...``, and every
area's own group (``products``, ``accounts``, ``orders``, ``feeds``, ``inbox``, ``sandbox``)."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.cli_input import ARGUMENT_WARNING, read_line, stdin_is_terminal, store_or_fail
from webapp.extensions import db
from webapp.models import Run, Store, User
from webapp.models import runs as R
from webapp.models.catalog import DEFAULT_MARKETPLACE

stores_cli = AppGroup("stores", help="Manage stores (tenants).")
users_cli = AppGroup("users", help="Manage users.")
imports_cli = AppGroup("imports", help="Run product-feed imports.")
demo_cli = AppGroup("demo", help="Demo data for a fresh machine.")
secrets_cli = AppGroup("secrets", help="Secrets stored in the database.")


@stores_cli.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--language", default="fr", type=click.Choice(["fr", "en", "de"]))
@click.option("--inactive", is_flag=True, help="Create it switched off (no schedule, no import).")
def stores_create(code: str, name: str, language: str, inactive: bool) -> None:
    """Create the store CODE called NAME (the rules of the admin page and the API)."""
    from webapp.admin.stores import StoreError, create_store

    data = {"code": code, "name": name, "default_language": language}
    if inactive:
        data["is_active"] = False
    try:
        store = create_store(data)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps({"id": store.id, "code": store.code, "name": store.name}))


def _store_record(store: Store, counts) -> dict:
    from connectors.egress import mask_url
    from webapp.admin.stores import URL_FIELDS

    record = {
        "id": store.id,
        "code": store.code,
        "name": store.name,
        "default_language": store.default_language,
        "is_active": store.is_active,
    }
    for name in URL_FIELDS:
        value = getattr(store, name)
        record[name] = mask_url(value) if value else None
    record.update(vars(counts))
    return record


@stores_cli.command("list")
@click.option("--search", default="", help="Only stores whose code or name contains this.")
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json"]))
def stores_list(search: str, fmt: str) -> None:
    """Every store with its counts (json: one object a line)."""
    from webapp.admin.stores import store_page

    page, per_page = 1, 500
    while True:
        result = store_page(page, per_page, search=search.strip())
        for row in result.items:
            record = _store_record(row.store, row.counts)
            if fmt == "json":
                click.echo(json.dumps(record))
            else:
                click.echo(
                    f"{row.store.id:>5}  {row.store.code:<20} {row.store.name[:30]:<30} "
                    f"{'active  ' if row.store.is_active else 'inactive'} "
                    f"products={record['products']} orders={record['orders']} "
                    f"accounts={record['accounts']} open_errors={record['open_errors']}"
                )
        if not result.has_next:
            break
        page += 1


@stores_cli.command("update")
@click.argument("code")
@click.option("--name")
@click.option("--language", type=click.Choice(["fr", "en", "de"]))
@click.option("--active/--inactive", "active", default=None, help="Switch the store on or off.")
@click.option(
    "--letzshop-url",
    "urls",
    multiple=True,
    metavar="LANG=URL",
    help="A Letzshop CSV URL for fr, en or de (LANG= alone clears it). Repeatable.",
)
def stores_update(
    code: str, name: str | None, language: str | None, active: bool | None, urls: tuple[str, ...]
) -> None:
    """Change a store; the last line printed is the store as saved (JSON)."""
    from webapp.admin.stores import StoreError, counts_for, update_store

    store = store_or_fail(code)
    data: dict = {}
    if name is not None:
        data["name"] = name
    if language is not None:
        data["default_language"] = language
    if active is not None:
        data["is_active"] = active
    for item in urls:
        lang, sep, url = item.partition("=")
        if not sep or lang not in ("fr", "en", "de"):
            raise click.UsageError(f"--letzshop-url takes LANG=URL with fr, en or de: {item!r}")
        data[f"letzshop_csv_url_{lang}"] = url
    if not data:
        raise click.UsageError(
            "Nothing to change: give --name, --language, --active/--inactive or --letzshop-url."
        )
    try:
        update_store(store, data)
    except StoreError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(_store_record(store, counts_for([store.id])[store.id])))


@users_cli.command("create")
@click.argument("email")
@click.option(
    "--password",
    help="The user's password (8 characters or more). "
    + ARGUMENT_WARNING.format(alternative="--password-from-stdin"),
)
@click.option(
    "--password-from-stdin",
    is_flag=True,
    help="Read the password from standard input's first line.",
)
@click.option("--admin", "is_admin", is_flag=True, help="An admin sees every store.")
@click.option("--store", "store_code", help="The store a store user belongs to.")
def users_create(
    email: str,
    password: str | None,
    password_from_stdin: bool,
    is_admin: bool,
    store_code: str | None,
) -> None:
    """Create a user: an admin (--admin) or a store user (--store CODE).

    The password is asked for (hidden, twice) in a terminal, or read with
    --password-from-stdin."""
    if is_admin == bool(store_code):
        raise click.UsageError("Give exactly one of --admin or --store CODE.")
    if password is not None and password_from_stdin:
        raise click.UsageError("Give the password one way: --password or --password-from-stdin.")
    if password_from_stdin:
        password = read_line("the password")
    elif password is None:
        if not stdin_is_terminal():
            raise click.UsageError(
                "Give the password: type it at the prompt (run in a terminal), or pipe it "
                "with --password-from-stdin."
            )
        password = click.prompt(
            "Password (8 characters or more)", hide_input=True, confirmation_prompt=True, err=True
        )
    if len(password) < 8:
        raise click.UsageError("The password must be at least 8 characters long.")
    email = email.strip().lower()
    if db.session.scalar(select(User).where(User.email == email)):
        raise click.ClickException(f"A user {email!r} already exists.")
    user = User(
        email=email,
        is_admin=is_admin,
        store_id=store_or_fail(store_code).id if store_code else None,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(
        json.dumps(
            {"id": user.id, "email": user.email, "admin": user.is_admin, "store": store_code}
        )
    )


@users_cli.command("set-password")
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The new password (8 characters or more); asked for when not given.",
)
def users_set_password(email: str, password: str) -> None:
    """Change a user's password; every session of the user ends (log in again)."""
    if len(password) < 8:
        raise click.UsageError("The password must be at least 8 characters long.")
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No user {email!r}.")
    user.set_password(password)
    db.session.commit()
    click.echo(json.dumps({"id": user.id, "email": user.email, "sessions_ended": True}))


@imports_cli.command("run")
@click.option("--store", "store_code", required=True)
@click.option(
    "--source",
    help="A local file path or an http(s) URL. A URL's password: leave it out "
    "(https://user@host/feed.csv) to be asked for it. "
    + ARGUMENT_WARNING.format(alternative="--source-from-stdin"),
)
@click.option(
    "--source-from-stdin",
    is_flag=True,
    help="Read the source (a URL with its password, or a path) from standard input's first line.",
)
@click.option("--marketplace", default=DEFAULT_MARKETPLACE, show_default=True)
@click.option("--language", default="en", type=click.Choice(["fr", "en", "de"]), show_default=True)
@click.option("--batch-size", default=1000, show_default=True, type=int)
def imports_run(
    store_code: str,
    source: str | None,
    source_from_stdin: bool,
    marketplace: str,
    language: str,
    batch_size: int,
) -> None:
    """Run one import inline; the last line printed is its JSON summary."""
    from webapp.imports.request import ImportRequestError
    from webapp.imports.service import create_run
    from webapp.runs.lifecycle import execute

    if (source is None) == (not source_from_stdin):
        raise click.UsageError("Give exactly one of --source or --source-from-stdin.")
    if source_from_stdin:
        source = read_line("the source URL or path").strip()
    store = store_or_fail(store_code)
    is_url = source.lower().startswith(("http://", "https://"))
    if is_url:
        source = _with_prompted_password(source)
    try:
        run = create_run(
            store,
            source_url=source if is_url else None,
            source_path=None if is_url else _local_path(source),
            marketplace=marketplace,
            language=language,
            batch_size=batch_size,
            trigger="cli",
        )
    except ImportRequestError as exc:
        raise click.ClickException(str(exc)) from exc
    run = execute(run.id)
    _finish(run)


@imports_cli.command("retry")
@click.argument("run_id", type=int)
def imports_retry(run_id: int) -> None:
    """Execute again a run a killed worker left unfinished (or a failed one), inline."""
    from webapp.runs.lifecycle import execute

    run = db.session.get(Run, run_id)
    if run is None:
        raise click.ClickException(f"No import job {run_id}.")
    if run.status in (R.COMPLETED, R.COMPLETED_WITH_ERRORS):
        raise click.ClickException(f"Import job {run_id} already finished ({run.status}).")
    run.status = R.PENDING
    db.session.commit()
    _finish(execute(run_id))


def _with_prompted_password(url: str) -> str:
    """A URL naming a user but no password gets one typed at a hidden prompt (in a terminal),
    as curl -u USER asks for it; elsewhere the URL is used as given."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None or parts.password is not None or not stdin_is_terminal():
        return url
    password = click.prompt(
        f"Password for {parts.username}@{parts.hostname}", hide_input=True, err=True
    )
    userinfo, _, hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo}:{quote(password, safe='')}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def _local_path(source: str) -> str:
    from pathlib import Path

    path = Path(source).expanduser()
    if not path.is_file():
        raise click.ClickException(f"No such file: {source}")
    return str(path.resolve())


def _finish(run: Run) -> None:
    if run.status == R.FAILED and run.error_message:
        click.echo(f"Import failed: {run.error_message}", err=True)
    click.echo(json.dumps(run.summary()))
    if run.status == R.FAILED:
        sys.exit(1)


@click.command("ship-csv")
@click.option("--store", "store_code", required=True)
@click.option(
    "--source", required=True, help="The shipments CSV file (see the orders page's template)."
)
def orders_ship_csv(store_code: str, source: str) -> None:
    """Record the shipments of a CSV file inline, as a bulk-shipping run (one shipment per
    order and tracking; a message per bad row); the last line printed is its JSON summary
    (exit 1 when the file could not be read at all)."""
    from webapp.imports import shipments
    from webapp.runs.lifecycle import execute

    store = store_or_fail(store_code)
    run = shipments.create_run(store, _local_path(source), trigger="cli")
    run = execute(run.id)
    if run.status == R.FAILED and run.error_message:
        click.echo(f"Bulk shipping failed: {run.error_message}", err=True)
    click.echo(json.dumps(shipments.summary(run)))
    if run.status == R.FAILED:
        sys.exit(1)


DEMO_PASSWORD = "mercato-demo"  # noqa: S105 (printed for a local demo on purpose)


@demo_cli.command("seed")
@click.option(
    "--sandbox-url",
    default=None,
    help="Also give the demo store a Lengow (5622), a Letzshop and a ShoppingFeed account on "
    "this marketplace "
    "sandbox (make run passes the one it starts); its address must be in "
    "MERCATO_OUTBOUND_ALLOW.",
)
@click.option(
    "--url",
    "app_url",
    default=None,
    help="Where web answers, for the login URL printed (default: http://127.0.0.1:$PORT, "
    "PORT being 5000 unless set; make run passes its own).",
)
def demo_seed(sandbox_url: str | None, app_url: str | None) -> None:
    """Create (once) a demo store, an admin and a store user, and print how to log in."""
    store = db.session.scalar(select(Store).where(Store.code == "demo"))
    if store is None:
        store = Store(code="demo", name="Demo Store", default_language="fr")
        db.session.add(store)
        db.session.flush()
    logins = (("admin@mercato.local", True, None), ("store@mercato.local", False, store.id))
    for email, is_admin, store_id in logins:
        if not db.session.scalar(select(User).where(User.email == email)):
            user = User(email=email, is_admin=is_admin, store_id=store_id)
            user.set_password(DEMO_PASSWORD)
            db.session.add(user)
    from webapp.feeds.defaults import ensure_store_feeds

    ensure_store_feeds(store)
    db.session.commit()
    from webapp.demo import seed_demo_catalog

    seed_demo_catalog(store, click.echo)  # the sandbox's products: orders match them
    if sandbox_url:
        for account in _demo_accounts(store, sandbox_url.rstrip("/")):
            click.echo(
                f"Demo account {account.id}: {account.name} on {account.settings['base_url']}"
            )
    app_url = (app_url or f"http://127.0.0.1:{current_app.config['PORT']}").rstrip("/")
    click.echo(f"Demo ready. Log in at {app_url}/login with:")
    click.echo(f"  admin:      admin@mercato.local / {DEMO_PASSWORD}")
    click.echo(f"  store user: store@mercato.local / {DEMO_PASSWORD}  (store 'demo')")


def _demo_accounts(store: Store, sandbox_url: str) -> list:
    """The demo store's sandbox accounts, created once; pointed at ``sandbox_url`` every time
    (make run may start the sandbox on another port). Credentials are the sandbox's own."""
    from webapp.accounts import AccountError, check_base_url, create_account
    from webapp.models import Account

    wanted = (
        (
            "lengow",
            "Lengow Menzzo (sandbox)",
            {"account_id": "5622", "base_url": sandbox_url},
            {"access_token": "sandbox-access-5622", "secret": "sandbox-secret-5622"},
        ),
        (
            "letzshop",
            "Letzshop (sandbox)",
            {"base_url": f"{sandbox_url}/graphql"},
            {"api_token": "sandbox-letzshop-token"},
        ),
        (
            "shoppingfeed",
            "ShoppingFeed (sandbox)",
            {"store_id": "29573", "base_url": sandbox_url},
            {"api_token": "sandbox-shoppingfeed-token"},
        ),
    )
    accounts = []
    try:
        for connector, name, settings, secrets in wanted:
            account = db.session.scalar(
                select(Account).where(Account.store_id == store.id, Account.name == name)
            )
            if account is None:
                account = create_account(
                    store, connector, name, settings=settings, secrets=secrets, live=True
                )
                _demo_follow_shipping(account)
            elif account.settings.get("base_url") != settings["base_url"]:
                check_base_url(settings["base_url"])
                account.settings = {**account.settings, "base_url": settings["base_url"]}
                db.session.commit()
            accounts.append(account)
    except AccountError as exc:
        raise click.ClickException(f"Demo accounts not created: {exc}") from exc
    return accounts


def _demo_follow_shipping(account) -> None:
    """The demo's accounts are live on the sandbox: their shipping confirmation (outbound
    feeds start off) is turned on, so that an order shipped from its page is sent and seen
    processed within seconds; so are the stock and price pushes and the stock check (the
    ShoppingFeed account), so that the sandbox receives the demo store's stock."""
    from webapp.runs import lifecycle

    for kind in ("shipping_confirmation", "stock_export", "price_export", "stock_check"):
        feed = lifecycle.account_feed(account, kind)
        if feed is None:
            continue
        try:
            lifecycle.set_enabled(feed, True)
        except lifecycle.FeedError as exc:
            click.echo(f"{feed.label} of {account.name} left off: {exc}", err=True)
    db.session.commit()


@demo_cli.command("digital")
@click.option("--sandbox-url", required=True, help="The running marketplace sandbox.")
def demo_digital(sandbox_url: str) -> None:
    """The demo's digital goods on a running sandbox (make run does it): a CodesWholesale
    account, its catalogue, two products published with a markup, a key pool, and a paid
    sandbox order for them that the next order import books and the worker fulfils and
    e-mails. JSON summary on the last line."""
    from webapp.demo import seed_demo_digital

    store = store_or_fail("demo")
    try:
        done = seed_demo_digital(store, sandbox_url, click.echo)
    except Exception as exc:  # noqa: BLE001 - the demo goes on without its digital order
        db.session.rollback()
        raise click.ClickException(f"The digital demo was not set up: {exc}") from exc
    click.echo(json.dumps(done))


@demo_cli.command("import-orders")
def demo_import_orders() -> None:
    """Poll each active account of the demo store once, inline (make run does it at start);
    an account that takes no orders (ShoppingFeed) has its stock pushed instead. One account
    failing does not stop the others; one JSON line per account."""
    from connectors import registry as connectors
    from connectors.base import Capability
    from webapp.models import Account
    from webapp.orders.service import import_orders

    store = store_or_fail("demo")
    accounts = db.session.scalars(
        select(Account)
        .where(Account.store_id == store.id, Account.retired_at.is_(None))
        .order_by(Account.id)
    ).all()
    for account in accounts:
        if not connectors.get(account.connector).supports(Capability.ORDERS_IN):
            _demo_push_stock(account)
            continue
        try:
            run = import_orders(account, trigger="cli")  # an execution of the account's feed
        except Exception as exc:  # noqa: BLE001 - report it and go on with the next account
            db.session.rollback()
            click.echo(json.dumps({"account": account.id, "status": "failed", "error": str(exc)}))
            continue
        click.echo(
            json.dumps(
                {
                    "account": account.id,
                    "name": account.name,
                    "status": run.status,
                    "fetched": run.total_processed,
                    "created": run.imported_count,
                    "parked": run.parked_count,
                    "errors": run.error_count,
                }
            )
        )


def _demo_push_stock(account) -> None:
    """The demo store's stock sent to a push account (its stock push, inline)."""
    from webapp.runs import lifecycle

    feed = lifecycle.account_feed(account, "stock_export")
    if feed is None or not feed.enabled:
        return
    try:
        run = lifecycle.run_feed(feed.id, "cli").run
    except lifecycle.FeedError as exc:
        click.echo(json.dumps({"account": account.id, "status": "refused", "error": str(exc)}))
        return
    summary = {"account": account.id, "name": account.name, "status": run.status}
    summary.update(pushed=run.total_processed - run.unchanged_count, errors=run.error_count)
    prices = lifecycle.account_feed(account, "price_export")
    if prices is not None and prices.enabled:  # the prices too: the check compares them
        try:
            priced = lifecycle.run_feed(prices.id, "cli").run
        except lifecycle.FeedError as exc:
            summary["prices"] = f"refused: {exc}"
        else:
            summary["prices"] = priced.status
    # The sandbox keeps what it holds in memory: restarted (every make run), it has forgotten
    # what it acknowledged before. The stock check with fix reads it back and sends what it
    # lacks, so the demo account holds the demo store's stock again.
    check = lifecycle.account_feed(account, "stock_check")
    if check is not None and check.enabled:
        try:
            checked = lifecycle.run_feed(check.id, "fix").run
        except lifecycle.FeedError as exc:
            summary["check"] = f"refused: {exc}"
        else:
            summary.update(check=checked.status, drifts=checked.warning_count)
            summary["fixed"] = checked.updated_count
    click.echo(json.dumps(summary))


@secrets_cli.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret under the first key of MERCATO_ENCRYPTION_KEYS."""
    from webapp.crypto import rotate
    from webapp.models import Account

    rotated = 0
    for run in db.session.scalars(select(Run).where(Run.source_secret.is_not(None))):
        run.source_secret = rotate(run.source_secret)
        rotated += 1
    for account in db.session.scalars(
        select(Account).where(Account.secrets_encrypted.is_not(None))
    ):
        account.rotate_secrets()
        rotated += 1
    db.session.commit()
    click.echo(json.dumps({"rotated": rotated}))


tokens_cli = AppGroup("tokens", help="Personal API tokens (Authorization: Bearer mct_...).")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="CLI token", show_default=True, help="What the token is for.")
@click.option(
    "--operator",
    is_flag=True,
    help="An operator token: reads /metrics and /health/marketplace-integrations only.",
)
def tokens_create(email: str, name: str, operator: bool) -> None:
    """Create an API token for EMAIL; the last line printed is the token (shown only once)."""
    from webapp.models import ApiToken
    from webapp.models.tokens import SCOPE_API, SCOPE_OPERATOR

    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No user {email!r}.")
    if not user.is_active:
        raise click.ClickException(f"User {email!r} is disabled; the token would not work.")
    row, token = ApiToken.issue(user, name, SCOPE_OPERATOR if operator else SCOPE_API)
    db.session.commit()
    click.echo(json.dumps({"id": row.id, "user": user.email, "name": row.name, "scope": row.scope}))
    click.echo("Store the token now: it cannot be shown again.", err=True)
    click.echo(token)


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke the API token TOKEN_ID (its id, as `tokens create` and the tokens page show)."""
    from webapp.models import ApiToken
    from webapp.models.base import utcnow

    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise click.ClickException(f"No API token {token_id}.")
    already = row.revoked_at is not None
    if not already:
        row.revoked_at = utcnow()
        db.session.commit()
    click.echo(json.dumps({"id": row.id, "revoked": True, "already_revoked": already}))


def register_cli(app: Flask) -> None:
    from sandbox.cli import sandbox_cli
    from webapp.accounts.cli import accounts_cli
    from webapp.catalog.cli import products_cli
    from webapp.catalogfeed.cli import catalog_cli
    from webapp.feeds.cli import feeds_cli
    from webapp.imports import stock_file  # noqa: F401  (adds `flask stock import`)
    from webapp.imports.keys_file import keys_cli
    from webapp.inbox.cli import inbox_cli
    from webapp.mail.cli import mail_cli
    from webapp.orders.cli import orders_cli
    from webapp.stock.cli import stock_cli

    groups = (stores_cli, users_cli, imports_cli, products_cli, demo_cli, secrets_cli, tokens_cli)
    areas = (accounts_cli, orders_cli, sandbox_cli, feeds_cli, inbox_cli, stock_cli, catalog_cli)
    for group in (*groups, *areas, keys_cli, mail_cli):
        app.cli.add_command(group)
    orders_cli.add_command(orders_ship_csv)  # reads the file with the import engine

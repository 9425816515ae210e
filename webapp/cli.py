"""Operators' commands: ``flask stores|users|imports|products|demo ...``."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp import csvsafe
from webapp.extensions import db
from webapp.models import MarketplaceProduct, Run, Store, User
from webapp.models import runs as R
from webapp.models.base import money_text

stores_cli = AppGroup("stores", help="Manage stores (tenants).")
users_cli = AppGroup("users", help="Manage users.")
imports_cli = AppGroup("imports", help="Run product-feed imports.")
products_cli = AppGroup("products", help="Read a store's imported products.")
demo_cli = AppGroup("demo", help="Demo data for a fresh machine.")
secrets_cli = AppGroup("secrets", help="Secrets stored in the database.")


def _store(code: str) -> Store:
    store = db.session.scalar(select(Store).where(Store.code == code))
    if store is None:
        raise click.ClickException(f"No store with code {code!r}.")
    return store


@stores_cli.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--language", default="fr", type=click.Choice(["fr", "en", "de"]))
def stores_create(code: str, name: str, language: str) -> None:
    """Create the store CODE called NAME."""
    if db.session.scalar(select(Store).where(Store.code == code)):
        raise click.ClickException(f"A store with code {code!r} already exists.")
    store = Store(code=code, name=name, default_language=language)
    db.session.add(store)
    db.session.flush()
    from webapp.feeds.defaults import ensure_store_feeds

    ensure_store_feeds(store)
    db.session.commit()
    click.echo(json.dumps({"id": store.id, "code": store.code, "name": store.name}))


@users_cli.command("create")
@click.argument("email")
@click.option("--password", required=True, help="The user's password (8 characters or more).")
@click.option("--admin", "is_admin", is_flag=True, help="An admin sees every store.")
@click.option("--store", "store_code", help="The store a store user belongs to.")
def users_create(email: str, password: str, is_admin: bool, store_code: str | None) -> None:
    """Create a user: an admin (--admin) or a store user (--store CODE)."""
    if is_admin == bool(store_code):
        raise click.UsageError("Give exactly one of --admin or --store CODE.")
    if len(password) < 8:
        raise click.UsageError("The password must be at least 8 characters long.")
    email = email.strip().lower()
    if db.session.scalar(select(User).where(User.email == email)):
        raise click.ClickException(f"A user {email!r} already exists.")
    user = User(
        email=email, is_admin=is_admin, store_id=_store(store_code).id if store_code else None
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
@click.option("--source", required=True, help="A local file path or an http(s) URL.")
@click.option("--marketplace", default="Letzshop", show_default=True)
@click.option("--language", default="en", type=click.Choice(["fr", "en", "de"]), show_default=True)
@click.option("--batch-size", default=1000, show_default=True, type=int)
def imports_run(
    store_code: str, source: str, marketplace: str, language: str, batch_size: int
) -> None:
    """Run one import inline; the last line printed is its JSON summary."""
    from webapp.imports.service import ImportRequestError, create_run, execute

    store = _store(store_code)
    is_url = source.lower().startswith(("http://", "https://"))
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
    from webapp.imports.service import execute

    run = db.session.get(Run, run_id)
    if run is None:
        raise click.ClickException(f"No import job {run_id}.")
    if run.status in (R.COMPLETED, R.COMPLETED_WITH_ERRORS):
        raise click.ClickException(f"Import job {run_id} already finished ({run.status}).")
    run.status = R.PENDING
    db.session.commit()
    _finish(execute(run_id))


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


EXPORT_FIELDS = (
    "id",
    "title",
    "description",
    "price",
    "sale_price",
    "currency",
    "gtin",
    "availability",
    "brand",
    "link",
    "image_link",
    "item_group_id",
    "extra",
)


@products_cli.command("export")
@click.option("--store", "store_code", required=True)
@click.option(
    "--language",
    default=None,
    type=click.Choice(["fr", "en", "de"]),
    help="Titles in this language, falling back to fr, en, de.",
)
@click.option("--format", "fmt", default="jsonl", type=click.Choice(["jsonl", "csv"]))
def products_export(store_code: str, language: str | None, fmt: str) -> None:
    """Write the store's imported products to stdout."""
    store = _store(store_code)
    language = language or store.default_language
    query = (
        select(MarketplaceProduct)
        .where(MarketplaceProduct.store_id == store.id)
        .options(selectinload(MarketplaceProduct.translations))
        .order_by(MarketplaceProduct.id)
        .execution_options(yield_per=1000)
    )
    writer = None
    if fmt == "csv":
        writer = csvsafe.dict_writer(sys.stdout, EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
    for product in db.session.scalars(query):
        translation = product.translation(language)
        record = {
            "id": product.marketplace_product_id,
            "title": translation.title if translation else None,
            "description": translation.description if translation else None,
            "price": money_text(product.price),
            "sale_price": money_text(product.sale_price),
            "currency": product.currency,
            "gtin": product.gtin,
            "availability": product.availability,
            "brand": product.brand,
            "link": product.link,
            "image_link": product.image_link,
            "item_group_id": product.item_group_id,
            "extra": product.extra or {},
        }
        if writer:
            record["extra"] = json.dumps(record["extra"], ensure_ascii=False)
            writer.writerow(record)
        else:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


DEMO_PASSWORD = "mercato-demo"  # noqa: S105 (printed for a local demo on purpose)


@demo_cli.command("seed")
@click.option(
    "--sandbox-url",
    default=None,
    help="Also give the demo store a Lengow (5622) and a Letzshop account on this marketplace "
    "sandbox (make run passes the one it starts); its address must be in "
    "MERCATO_OUTBOUND_ALLOW.",
)
def demo_seed(sandbox_url: str | None) -> None:
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
    if sandbox_url:
        for account in _demo_accounts(store, sandbox_url.rstrip("/")):
            click.echo(
                f"Demo account {account.id}: {account.name} on {account.settings['base_url']}"
            )
    click.echo("Demo ready. Log in at http://127.0.0.1:5000/login with:")
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
            elif account.settings.get("base_url") != settings["base_url"]:
                check_base_url(settings["base_url"])
                account.settings = {**account.settings, "base_url": settings["base_url"]}
                db.session.commit()
            accounts.append(account)
    except AccountError as exc:
        raise click.ClickException(f"Demo accounts not created: {exc}") from exc
    return accounts


@demo_cli.command("import-orders")
def demo_import_orders() -> None:
    """Poll each active account of the demo store once, inline (make run does it at start).
    One account failing does not stop the others; one JSON line per account."""
    from webapp.models import Account
    from webapp.orders.service import import_orders

    store = _store("demo")
    accounts = db.session.scalars(
        select(Account)
        .where(Account.store_id == store.id, Account.retired_at.is_(None))
        .order_by(Account.id)
    ).all()
    from webapp.feeds import service as feeds
    from webapp.models import Feed

    for account in accounts:
        try:
            feed = db.session.scalar(
                select(Feed).where(Feed.account_id == account.id, Feed.kind == "import_orders")
            )
            if feed is not None and feed.enabled:
                run = feeds.run_feed(feed.id, "cli").run  # an execution of the account's feed
            else:
                run = import_orders(account, trigger="cli")
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
    from webapp.accounts.cli import accounts_cli
    from webapp.feeds.cli import feeds_cli
    from webapp.orders.cli import orders_cli
    from webapp.sandbox.cli import sandbox_cli

    groups = (stores_cli, users_cli, imports_cli, products_cli, demo_cli, secrets_cli, tokens_cli)
    for group in (*groups, accounts_cli, orders_cli, sandbox_cli, feeds_cli):
        app.cli.add_command(group)

"""``flask sandbox serve``: run the fake marketplace server (see ``sandbox``)."""

from __future__ import annotations

import click

DEFAULT_ACCOUNTS = "5622,6395,17220"


@click.group(
    "sandbox", help="A local fake marketplace server (one fake per marketplace, sandbox.fakes)."
)
def sandbox_cli() -> None:
    pass


def _accounts(value: str) -> list[int]:
    try:
        ids = [int(part) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise click.BadParameter("a comma-separated list of account ids") from exc
    if not ids:
        raise click.BadParameter("at least one account id")
    return ids


@sandbox_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=5050, show_default=True, type=int)
@click.option("--seed", default=1, show_default=True, type=int, help="seed of the fake data")
@click.option(
    "--orders", default=200, show_default=True, type=int, help="orders per account at start"
)
@click.option(
    "--faults",
    default="",
    help="comma-separated fault switches: 429,500,slow,expire,move (default: none)",
)
@click.option("--accounts", default=DEFAULT_ACCOUNTS, show_default=True, help="Lengow account ids")
@click.option(
    "--step",
    default=15.0,
    show_default=True,
    type=float,
    help="seconds between order lifecycle steps (status changes, new orders)",
)
@click.option(
    "--cw-catalog",
    type=click.Path(exists=True, dir_okay=False),
    help="a CodesWholesale catalogue dump CSV to serve (id, short name, name, platform, "
    "date release), e.g. ../shared/fixtures/real/codeswholesale/"
    "cw_products_catalog_dump_2018.csv; default: a generated catalogue",
)
def serve(host, port, seed, orders, faults, accounts, step, cw_catalog) -> None:
    """Serve the sandbox with werkzeug's threaded server (no debugger, no reloader)."""
    from werkzeug.serving import make_server

    from sandbox.app import FaultError, create_sandbox_app, parse_faults

    try:
        parse_faults(faults)
    except FaultError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from exc
    if orders < 0:
        raise click.BadParameter("must be >= 0", param_hint="--orders")
    app = create_sandbox_app(
        {
            "SANDBOX_SEED": seed,
            "SANDBOX_ORDERS": orders,
            "SANDBOX_FAULTS": faults,
            "SANDBOX_ACCOUNTS": _accounts(accounts),
            "SANDBOX_STEP_SECONDS": step,
            "SANDBOX_CW_CATALOG": cw_catalog,
        }
    )
    sandbox = app.extensions["sandbox"]
    sandbox.warm()
    server = make_server(host, port, app, threaded=True)
    base = f"http://{host}:{server.port}"
    click.echo(f"Mercato sandbox on {base} (seed {seed}, {orders} orders per account)")
    for fake in sandbox.fakes:
        for line in fake.banner(sandbox, base):
            click.echo(line)
    click.echo(f"  Faults:   {sandbox.faults or 'none'}  (change: POST {base}/_sandbox/faults)")
    click.echo(f"  State:    {base}/_sandbox/state")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

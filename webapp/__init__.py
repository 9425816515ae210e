"""Mercato's Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask

from webapp import config as config_module
from webapp import statement_timeout
from webapp.extensions import csrf, db, login_manager, migrate


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    # Before any route exists: every <int:...> id beyond the id columns' range is a 404.
    from webapp.ids import IdConverter

    app.url_map.converters["int"] = IdConverter
    app.config.update(config_module.load())
    if test_config:
        app.config.update(test_config)

    logging.basicConfig(
        level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )

    # JSON columns (order payloads) encoded with orjson: several times faster than json.dumps.
    from connectors.jsonio import dumps

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "json_serializer": dumps,
        **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
    }
    db.init_app(app)
    statement_timeout.init_app(app)
    migrate.init_app(app, db, directory=str(config_module.ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    from webapp import security

    security.init_app(app)  # CSP and the other headers; ProxyFix as far as configured

    from webapp import models  # noqa: F401  (register tables with the metadata)
    from webapp.cli import register_cli

    register_cli(app)

    from webapp.accounts.routes import bp as accounts_bp
    from webapp.admin import bp as admin_bp
    from webapp.api import bp as api_bp
    from webapp.auth import bp as auth_bp
    from webapp.catalog.routes import bp as catalog_bp
    from webapp.catalogfeed.routes import bp as catalogfeed_bp
    from webapp.digital.routes import bp as digital_bp
    from webapp.feeds import bp as feeds_bp
    from webapp.inbox import bp as inbox_bp
    from webapp.mail.routes import bp as mail_bp
    from webapp.monitoring import bp as monitoring_bp
    from webapp.orders.routes import bp as orders_bp
    from webapp.stock.routes import bp as stock_bp
    from webapp.store import bp as store_bp
    from webapp.store.keys import bp as keys_bp
    from webapp.tokens import bp as tokens_bp

    blueprints = (
        *(monitoring_bp, auth_bp, store_bp, catalog_bp, orders_bp, accounts_bp),
        *(admin_bp, tokens_bp, api_bp, inbox_bp, feeds_bp, stock_bp, catalogfeed_bp),
        keys_bp,
        mail_bp,
        digital_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    from webapp.runs import registry
    from webapp.runs.table import run_columns

    registry.load()  # every @flow declared: the feed kinds the models and pages name

    app.jinja_env.globals["run_columns"] = run_columns  # one history row for every run
    csrf.exempt(api_bp)  # bearer tokens, not cookies: no cross-site forgery to prevent
    from webapp import redis_outage

    redis_outage.register(app)  # a page that needs Redis while it is away: 503, not 500

    @app.get("/favicon.ico")
    def favicon():
        # Browsers ask for /favicon.ico whatever the page links; pages link favicon.svg too.
        return app.send_static_file("favicon.ico")

    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    # Werkzeug refuses bigger bodies before they are read; the form explains the limit.
    app.config.setdefault("MAX_CONTENT_LENGTH", app.config["MERCATO_UPLOAD_MAX_BYTES"] + (1 << 20))

    @login_manager.user_loader
    def load_user(session_id: str):
        from webapp.models.stores import load_session_user

        return load_session_user(session_id)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        _tune_sqlite(app)
    return app


def _tune_sqlite(app: Flask) -> None:
    """WAL and a busy timeout so web, worker and scheduler share one SQLite file."""
    from sqlalchemy import event

    from webapp.catalog.product_list import sqlite_translate

    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA cache_size=-32768")  # up to 32 MB of pages, allocated on use
            cur.close()
            # The products search's word test uses PostgreSQL's translate().
            dbapi_conn.create_function("translate", 3, sqlite_translate, deterministic=True)

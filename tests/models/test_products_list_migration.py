"""Migration 0015: the products page's indexes, built on a catalog that has rows, both ways."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from tests.models.revisions import before
from webapp.catalog import product_list
from webapp.extensions import db

BTREES = {
    "ix_marketplace_products_store_id",
    "ix_marketplace_products_store_availability",
    "ix_mp_translations_language",
}
POSTGRESQL_ONLY = {
    "ix_marketplace_products_store_sku",
    "ix_marketplace_products_search",
    "ix_mp_translations_search",
}


def _indexes() -> set[str]:
    found = set()
    inspector = inspect(db.engine)
    for table in ("marketplace_products", "marketplace_product_translations"):
        found |= {ix["name"] for ix in inspector.get_indexes(table)}
    return found


def _valid_on_postgresql() -> set[str]:
    rows = db.session.execute(
        text(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indisvalid AND c.relname LIKE 'ix_m%'"
        )
    ).scalars()
    return set(rows)


def test_the_indexes_come_and_go_with_the_migration(app, store):
    from tests.webapp.test_products_list import CATALOG, add_products

    add_products(store, CATALOG)
    store_id = store.id
    postgresql = db.engine.dialect.name == "postgresql"
    expected = BTREES | (POSTGRESQL_ONLY if postgresql else set())
    db.session.commit()
    assert expected <= _indexes()

    downgrade(revision=before("0015_products_list_search"))
    assert not (BTREES | POSTGRESQL_ONLY) & _indexes()

    upgrade()  # built on tables that hold products, concurrently on PostgreSQL
    assert expected <= _indexes()
    if postgresql:
        assert expected <= _valid_on_postgresql()
    db.session.remove()
    page = product_list.product_page(
        store_id, product_list.ProductFilters(q="chaise"), product_list.Cursor()
    )
    assert [p.marketplace_product_id for p in page.items] == ["SKU-A101", "SKU-A100"]


def test_migrating_a_schema_of_its_own_leaves_the_suites_indexes_alone(app, backend, tmp_path):
    """The migration tests build a schema of their own with ``public`` after it on the search
    path: 0015 dropping "its" indexes before building them (and 0007 dropping its own on the
    way down) must look in that schema only, never drop public's of the same name."""
    from tests.conftest import redis_url
    from tests.models.revisions import migration_database
    from webapp import create_app

    if backend != "postgresql":
        pytest.skip("search paths are PostgreSQL's")
    ours = _indexes()
    assert BTREES | POSTGRESQL_ONLY <= ours
    for url in migration_database("postgresql", tmp_path, "mig0015_own_schema"):
        other = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url()})
        with other.app_context():
            upgrade(revision="0015_products_list_search")
            downgrade(revision=before("0007_orders_ui"))
            db.engine.dispose()
    assert _indexes() == ours

"""products list and search: pages by id per store, filters, full-text search indexes

Revision ID: 0015_products_list_search
Revises: 0012_translation_range_check
Create Date: 2026-11-23 10:00:00

The products page (``webapp/catalog/product_list.py``) reads a store's catalog newest
first, 25 at a time, with a search and two filters; ``bench/products_pages.py`` measures
it with 1,000,000 products in one store. What it needs:

* ``ix_marketplace_products_store_id (store_id, id)``: the list, newest first, and each
  page after the previous one's last id, as a short index range; counts up to 1,000.
* ``ix_marketplace_products_store_availability (store_id, availability, id)``: the same
  for the availability filter (a rare value no longer walks the whole store).
* ``ix_mp_translations_language (language, marketplace_product_id)``: the import-language
  filter when few products have that language.
* PostgreSQL only, what the search reads (``product_list.Search``):
  ``ix_marketplace_products_store_sku (store_id, lower(marketplace_product_id)
  text_pattern_ops)``, an id's beginning as a range whatever the database's collation; and
  two GIN full-text indexes (configuration ``simple``: no stemming, no stop words, any
  language) over exactly the expressions the queries use: ``ix_marketplace_products_search``
  on brand and GTIN, ``ix_mp_translations_search`` on the titles.

New products go at the end of the b-trees on ids; the full-text indexes cost every import
that writes new titles, brands or GTINs: a first import of 300,000 rows into PostgreSQL took
about twice as long with the six indexes (5.7 s before, 11.1-12.0 s after, bench.import_feed
alternately on both codes on the shared development machine); an unchanged re-import writes
nothing and costs the same. On PostgreSQL the indexes are built CONCURRENTLY, so imports and
pages go on meanwhile (22-48 s for 1,010,000 products and 1,616,000 titles, with the
machine's load); an index a failed build left invalid is dropped and built again when the
upgrade runs again.
"""

from alembic import op

revision = "0015_products_list_search"
down_revision = "0014_session_generation"
branch_labels = None
depends_on = None

# Exactly the expressions webapp.catalog.product_list renders (codes_text, _tsvector): a
# test checks that a search's plan uses these indexes.
CODES = "to_tsvector('simple'::regconfig, coalesce(brand, '') || ' ' || coalesce(gtin, ''))"
TITLE = "to_tsvector('simple'::regconfig, title)"

BTREES = (
    ("ix_marketplace_products_store_id", "marketplace_products", ["store_id", "id"]),
    (
        "ix_marketplace_products_store_availability",
        "marketplace_products",
        ["store_id", "availability", "id"],
    ),
    (
        "ix_mp_translations_language",
        "marketplace_product_translations",
        ["language", "marketplace_product_id"],
    ),
)
# PostgreSQL only: what the search reads (the b-tree lets an id's beginning be a range).
SEARCH = (
    (
        "ix_marketplace_products_store_sku",
        "marketplace_products",
        "btree (store_id, lower(marketplace_product_id) text_pattern_ops)",
    ),
    ("ix_marketplace_products_search", "marketplace_products", f"gin (({CODES}))"),
    ("ix_mp_translations_search", "marketplace_product_translations", f"gin (({TITLE}))"),
)


def _here() -> str:
    """The schema the tables are created in (the search path's first), quoted. An index name
    left unqualified in ``DROP INDEX IF EXISTS`` is looked up along the whole search path: in
    a schema of its own with ``public`` after it (tests/models/revisions.py), dropping an index
    not built there yet dropped public's of the same name."""
    bind = op.get_bind()
    return bind.dialect.identifier_preparer.quote(
        bind.exec_driver_sql("SELECT current_schema()").scalar()
    )


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        for name, table, columns in BTREES:
            op.create_index(name, table, columns, unique=False)
        return
    here = _here()
    with op.get_context().autocommit_block():
        for name, table, columns in BTREES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {here}.{name}")
            op.execute(f"CREATE INDEX CONCURRENTLY {name} ON {table} ({', '.join(columns)})")
        for name, table, definition in SEARCH:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {here}.{name}")
            op.execute(f"CREATE INDEX CONCURRENTLY {name} ON {table} USING {definition}")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        for name, table, _ in reversed(BTREES):
            op.drop_index(name, table_name=table)
        return
    here = _here()
    with op.get_context().autocommit_block():
        for name, _, _ in (*reversed(SEARCH), *reversed(BTREES)):
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {here}.{name}")

"""catalog integrity checked per statement on PostgreSQL, no GTIN index (bulk imports)

Revision ID: 0010_catalog_set_checks
Revises: 0009_monitoring
Create Date: 2026-11-22 18:20:00

A foreign key is checked row by row: for each product a feed import writes,
PostgreSQL runs one lookup of its store and one of the product for its translation,
each locking the row it finds (about half the server time of a million-row
import). On PostgreSQL the two foreign keys of the imported catalog become
statement-level triggers over transition tables: the same rules (a product needs its
store, a translation its product; deleting either deletes what hangs off it), checked
once per statement with a join, and the stores concerned locked as a foreign key would
(FOR KEY SHARE), so a store deleted meanwhile waits for the import's commit.
SQLite keeps its declared foreign keys (its checks cost nothing measurable there).

On both back-ends the index on (store_id, gtin) goes: no query uses it (the catalog
search ORs the GTIN with substring matches, which no index serves), while a feed's
GTINs are random, so each batch of an import dirtied pages all over it (on SQLite a
third of the bytes each commit wrote).
"""

from alembic import op

revision = "0010_catalog_set_checks"
down_revision = "0009_monitoring"
branch_labels = None
depends_on = None

UPGRADE = """
-- A bulk import's COPY leaves the times to the server (the batch transaction's start,
-- in UTC like the app's): parsing two timestamps was a tenth of a row's server time.
ALTER TABLE marketplace_products
  ALTER COLUMN created_at SET DEFAULT (now() AT TIME ZONE 'utc'),
  ALTER COLUMN updated_at SET DEFAULT (now() AT TIME ZONE 'utc');

DO $$
DECLARE c record;
BEGIN
  FOR c IN SELECT conname, conrelid::regclass AS tab FROM pg_constraint
           WHERE contype = 'f'
             AND ((conrelid = 'marketplace_products'::regclass
                   AND confrelid = 'stores'::regclass)
               OR (conrelid = 'marketplace_product_translations'::regclass
                   AND confrelid = 'marketplace_products'::regclass))
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tab, c.conname);
  END LOOP;
END $$;

CREATE FUNCTION mp_products_need_stores() RETURNS trigger LANGUAGE plpgsql
  SET enable_seqscan = off AS $$
DECLARE wanted integer[]; locked integer;
BEGIN
  -- Lock the stores as a foreign key would; one missing means a product without one.
  SELECT array_agg(DISTINCT store_id) INTO wanted FROM new_rows;
  SELECT count(*) INTO locked FROM (
    SELECT 1 FROM stores s WHERE s.id = ANY(wanted) FOR KEY SHARE OF s) l;
  IF locked < coalesce(array_length(wanted, 1), 0) THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('marketplace_products: a store of %s does not exist', wanted),
      TABLE = 'marketplace_products';
  END IF;
  RETURN NULL;
END $$;

-- The transition table has no statistics: without these settings the join below was
-- planned as a hash join over every product of the table, for each batch (measured:
-- 7 us a row on a 200,000-row import, against under 1 with index probes).
CREATE FUNCTION mp_translations_need_products() RETURNS trigger LANGUAGE plpgsql
  SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off AS $$
DECLARE missing integer; owners integer[];
BEGIN
  -- One probe of the product key per translation finds both a missing product and the
  -- stores to lock (a store deleted meanwhile waits for this transaction).
  SELECT min(n.marketplace_product_id) FILTER (WHERE p.id IS NULL),
         array_agg(DISTINCT p.store_id) FILTER (WHERE p.id IS NOT NULL)
    INTO missing, owners
    FROM new_rows n LEFT JOIN marketplace_products p ON p.id = n.marketplace_product_id;
  IF missing IS NOT NULL THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('marketplace_product_translations: product %s does not exist',
                       missing),
      TABLE = 'marketplace_product_translations';
  END IF;
  PERFORM 1 FROM stores s WHERE s.id = ANY(owners) FOR KEY SHARE OF s;
  RETURN NULL;
END $$;

CREATE FUNCTION mp_store_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM marketplace_products p USING old_rows o WHERE p.store_id = o.id;
  RETURN NULL;
END $$;

CREATE FUNCTION mp_product_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM marketplace_product_translations t USING old_rows o
    WHERE t.marketplace_product_id = o.id;
  RETURN NULL;
END $$;

-- TRUNCATE fires no delete trigger: what hangs off a truncated table goes with it (unless
-- the same statement truncated it too: it is then empty, and in use).
CREATE FUNCTION mp_products_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM marketplace_product_translations) THEN
    TRUNCATE marketplace_product_translations;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION mp_stores_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM marketplace_products) THEN
    TRUNCATE marketplace_products CASCADE;
  END IF;
  IF EXISTS (SELECT 1 FROM marketplace_product_translations) THEN
    TRUNCATE marketplace_product_translations;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION mp_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE foreign_key_violation USING
    MESSAGE = format('%s: the reference of a row cannot change', TG_TABLE_NAME),
    TABLE = TG_TABLE_NAME;
END $$;

CREATE TRIGGER mp_products_need_stores AFTER INSERT ON marketplace_products
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION mp_products_need_stores();
CREATE TRIGGER mp_products_store_fixed BEFORE UPDATE OF store_id ON marketplace_products
  FOR EACH ROW WHEN (NEW.store_id IS DISTINCT FROM OLD.store_id)
  EXECUTE FUNCTION mp_key_changed();
CREATE TRIGGER mp_translations_need_products AFTER INSERT
  ON marketplace_product_translations
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION mp_translations_need_products();
CREATE TRIGGER mp_translations_product_fixed
  BEFORE UPDATE OF marketplace_product_id ON marketplace_product_translations
  FOR EACH ROW WHEN (NEW.marketplace_product_id IS DISTINCT FROM OLD.marketplace_product_id)
  EXECUTE FUNCTION mp_key_changed();
CREATE TRIGGER mp_store_deleted AFTER DELETE ON stores
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  EXECUTE FUNCTION mp_store_deleted();
CREATE TRIGGER mp_product_deleted AFTER DELETE ON marketplace_products
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  EXECUTE FUNCTION mp_product_deleted();
CREATE TRIGGER mp_products_truncated AFTER TRUNCATE ON marketplace_products
  FOR EACH STATEMENT EXECUTE FUNCTION mp_products_truncated();
CREATE TRIGGER mp_stores_truncated AFTER TRUNCATE ON stores
  FOR EACH STATEMENT EXECUTE FUNCTION mp_stores_truncated();
"""

DOWNGRADE = """
ALTER TABLE marketplace_products
  ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
DROP TRIGGER mp_stores_truncated ON stores;
DROP TRIGGER mp_products_truncated ON marketplace_products;
DROP FUNCTION mp_stores_truncated();
DROP FUNCTION mp_products_truncated();
DROP TRIGGER mp_product_deleted ON marketplace_products;
DROP TRIGGER mp_store_deleted ON stores;
DROP TRIGGER mp_translations_product_fixed ON marketplace_product_translations;
DROP TRIGGER mp_translations_need_products ON marketplace_product_translations;
DROP TRIGGER mp_products_store_fixed ON marketplace_products;
DROP TRIGGER mp_products_need_stores ON marketplace_products;
DROP FUNCTION mp_key_changed();
DROP FUNCTION mp_product_deleted();
DROP FUNCTION mp_store_deleted();
DROP FUNCTION mp_translations_need_products();
DROP FUNCTION mp_products_need_stores();
ALTER TABLE marketplace_products ADD CONSTRAINT fk_marketplace_products_store_id_stores
  FOREIGN KEY (store_id) REFERENCES stores (id) ON DELETE CASCADE;
ALTER TABLE marketplace_product_translations
  ADD CONSTRAINT fk_marketplace_product_translations_marketplace_product_id
  FOREIGN KEY (marketplace_product_id) REFERENCES marketplace_products (id) ON DELETE CASCADE;
"""


def upgrade():
    op.drop_index("ix_marketplace_products_store_gtin", table_name="marketplace_products")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(UPGRADE)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DOWNGRADE)
    op.create_index(
        "ix_marketplace_products_store_gtin", "marketplace_products", ["store_id", "gtin"]
    )

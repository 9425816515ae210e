"""catalog integrity checked per statement on PostgreSQL (bulk imports)

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
"""

from alembic import op

revision = "0010_catalog_set_checks"
down_revision = "0009_monitoring"
branch_labels = None
depends_on = None

UPGRADE = """
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

CREATE FUNCTION mp_products_need_stores() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE missing integer;
BEGIN
  -- Lock the stores as a foreign key would, then look for a product without one.
  PERFORM 1 FROM stores s WHERE s.id IN (SELECT DISTINCT store_id FROM new_rows)
    FOR KEY SHARE OF s;
  SELECT n.store_id INTO missing FROM (SELECT DISTINCT store_id FROM new_rows) n
    WHERE NOT EXISTS (SELECT 1 FROM stores s WHERE s.id = n.store_id) LIMIT 1;
  IF FOUND THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('marketplace_products: store %s does not exist', missing),
      TABLE = 'marketplace_products';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION mp_translations_need_products() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE missing integer;
BEGIN
  PERFORM 1 FROM stores s WHERE s.id IN (
      SELECT DISTINCT p.store_id FROM marketplace_products p
      JOIN (SELECT DISTINCT marketplace_product_id FROM new_rows) n
        ON p.id = n.marketplace_product_id)
    FOR KEY SHARE OF s;
  SELECT n.marketplace_product_id INTO missing FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM marketplace_products p
                      WHERE p.id = n.marketplace_product_id) LIMIT 1;
  IF FOUND THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('marketplace_product_translations: product %s does not exist',
                       missing),
      TABLE = 'marketplace_product_translations';
  END IF;
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
"""

DOWNGRADE = """
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
    if op.get_bind().dialect.name == "postgresql":
        op.execute(UPGRADE)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DOWNGRADE)

"""the inbox by store and by SKU

Messages carry their store and account, order lines their catalog product, and a store has
one open entry per unknown SKU.

Revision ID: 0013_inbox_by_sku
Revises: 0012_translation_range_check
Create Date: 2026-11-23 10:00:00

* ``marketplace_import_errors.store_id`` / ``account_id``: the run's, on every message that
  is not about one feed row. Writers may give them; otherwise a trigger copies them from
  the run (PostgreSQL: BEFORE INSERT; SQLite, which cannot change NEW: AFTER INSERT).  The
  trigger's WHEN leaves a feed's row messages alone, so an import's bulk writes pay nothing.
  The inbox then reads, counts and pages one store's (or account's) open messages on a
  partial index of its own instead of joining every open message to its run.
* ``ix_messages_open`` becomes (severity, error_type, created_at, id, store_id), and
  ``ix_inbox_store`` / ``ix_inbox_account`` are the same under a store, or a store and an
  account: a cause's count, its pages newest first and the age filter are ranges of one
  index, read without the rows.
* ``uq_inbox_unknown_sku``: one open unknown-SKU entry per (store, SKU), whichever poll or
  worker sees the SKU first.
* ``order_items.marketplace_product_id``: the catalog product a line was matched to (by SKU,
  then GTIN), published or not; ``ix_order_items_unmatched`` indexes the (few) unmatched
  lines by SKU.
* Data: unmatched lines whose SKU is a product id of the store's catalog are matched (and
  linked to the published product when there is one); the open unknown-SKU messages, one
  per order line until now, become one entry per (store, SKU) and the old ones are resolved
  ("grouped by SKU").
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0013_inbox_by_sku"
down_revision = "0012_translation_range_check"
branch_labels = None
depends_on = None

MESSAGES = "marketplace_import_errors"
OPEN = "resolved_at IS NULL AND row_number IS NULL"
UNKNOWN_SKU_OPEN = "error_type = 'unknown_sku' AND subject_type = 'sku' AND resolved_at IS NULL"
INBOX_COLUMNS = ["severity", "error_type", "created_at", "id"]

# The run's account, else the account the message is about.
SCOPE_PG = """
CREATE FUNCTION messages_scope() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT r.store_id,
         COALESCE(NEW.account_id, r.account_id,
                  CASE WHEN NEW.subject_type = 'account' THEN NEW.subject_id END)
    INTO NEW.store_id, NEW.account_id
    FROM marketplace_import_jobs r WHERE r.id = NEW.import_job_id;
  RETURN NEW;
END $$;
CREATE TRIGGER messages_scope BEFORE INSERT ON marketplace_import_errors
  FOR EACH ROW WHEN (NEW.row_number IS NULL AND NEW.store_id IS NULL)
  EXECUTE FUNCTION messages_scope();
"""
SCOPE_SQLITE = """
CREATE TRIGGER messages_scope AFTER INSERT ON marketplace_import_errors
WHEN NEW.row_number IS NULL AND NEW.store_id IS NULL
BEGIN
  UPDATE marketplace_import_errors SET
    store_id = (SELECT r.store_id FROM marketplace_import_jobs r WHERE r.id = NEW.import_job_id),
    account_id = COALESCE(
      NEW.account_id,
      (SELECT r.account_id FROM marketplace_import_jobs r WHERE r.id = NEW.import_job_id),
      CASE WHEN NEW.subject_type = 'account' THEN NEW.subject_id END)
  WHERE id = NEW.id;
END
"""

BACKFILL = """
UPDATE marketplace_import_errors SET
  store_id = (SELECT r.store_id FROM marketplace_import_jobs r
              WHERE r.id = marketplace_import_errors.import_job_id),
  account_id = COALESCE(
    (SELECT r.account_id FROM marketplace_import_jobs r
     WHERE r.id = marketplace_import_errors.import_job_id),
    CASE WHEN subject_type = 'account' THEN subject_id END)
WHERE row_number IS NULL
"""

# Unmatched lines whose SKU is a product id of the store's catalog (any marketplace).
MATCH_PG = """
UPDATE order_items AS i SET marketplace_product_id = m.id, matched = true
FROM orders o, marketplace_products m
WHERE o.id = i.order_id AND NOT i.matched AND i.sku IS NOT NULL
  AND m.store_id = o.store_id AND m.marketplace_product_id = i.sku
"""
MATCH_SQLITE = """
UPDATE order_items SET
  marketplace_product_id = (
    SELECT min(m.id) FROM orders o JOIN marketplace_products m ON m.store_id = o.store_id
    WHERE o.id = order_items.order_id AND m.marketplace_product_id = order_items.sku),
  matched = 1
WHERE NOT matched AND sku IS NOT NULL AND EXISTS (
    SELECT 1 FROM orders o JOIN marketplace_products m ON m.store_id = o.store_id
    WHERE o.id = order_items.order_id AND m.marketplace_product_id = order_items.sku)
"""
LINK_PUBLISHED = """
UPDATE order_items SET product_id = (
    SELECT p.id FROM products p WHERE p.marketplace_product_id = order_items.marketplace_product_id)
WHERE product_id IS NULL AND marketplace_product_id IS NOT NULL
"""
RESOLVE_MATCHED = """
UPDATE marketplace_import_errors SET resolved_at = :now,
  resolved_by = 'matched to the catalog (migration 0013)', next_retry_at = NULL
WHERE error_type = 'unknown_sku' AND subject_type = 'order' AND resolved_at IS NULL
  AND row_number IS NULL AND NOT EXISTS (
    SELECT 1 FROM order_items i WHERE i.order_id = marketplace_import_errors.subject_id
    AND NOT i.matched)
"""
# What webapp/orders/matching.py writes, word for word.
GROUP = """
INSERT INTO marketplace_import_errors (import_job_id, severity, error_type, error_message,
  identifier, subject_type, store_id, account_id, created_at, attempts)
SELECT min(m.import_job_id), 'error', 'unknown_sku',
  CASE WHEN i.sku IS NULL OR i.sku = ''
    THEN 'Order lines without a SKU: the marketplace sent no product reference, so they '
         || 'cannot be matched to the catalog. Check these orders by hand, then resolve '
         || 'this entry.'
    ELSE 'SKU "' || i.sku || '" is not in the catalog (no product has it as its id or '
         || 'GTIN): its order lines wait unmatched. Import the product (the feed that has '
         || 'it): the lines are matched and this entry closes by itself. If the SKU is no '
         || 'product of yours (a fee, a gift wrap), resolve it.'
  END,
  COALESCE(i.sku, ''), 'sku', m.store_id, min(m.account_id), min(m.created_at), 0
FROM marketplace_import_errors m JOIN order_items i ON i.order_id = m.subject_id
WHERE m.error_type = 'unknown_sku' AND m.subject_type = 'order' AND m.resolved_at IS NULL
  AND m.row_number IS NULL AND NOT i.matched AND m.store_id IS NOT NULL
GROUP BY m.store_id, i.sku
"""
RESOLVE_GROUPED = """
UPDATE marketplace_import_errors SET resolved_at = :now,
  resolved_by = 'grouped by SKU (migration 0013)', next_retry_at = NULL
WHERE error_type = 'unknown_sku' AND subject_type = 'order' AND resolved_at IS NULL
  AND row_number IS NULL
"""


def _inbox_indexes() -> None:
    where = sa.text(OPEN)
    for name, columns in (
        # Every store's (admins): store_id last, so the counts per store need no row.
        ("ix_messages_open", [*INBOX_COLUMNS, "store_id"]),
        ("ix_inbox_store", ["store_id", *INBOX_COLUMNS]),
        # An account filter stays inside the store (store_id first) on the index alone.
        ("ix_inbox_account", ["store_id", "account_id", *INBOX_COLUMNS]),
    ):
        op.create_index(name, MESSAGES, columns, postgresql_where=where, sqlite_where=where)


def upgrade():
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    op.add_column(MESSAGES, sa.Column("store_id", sa.Integer(), nullable=True))
    op.add_column(MESSAGES, sa.Column("account_id", sa.Integer(), nullable=True))
    op.execute(BACKFILL)
    if postgresql:
        op.execute(SCOPE_PG)
    else:
        op.execute(SCOPE_SQLITE)
    op.drop_index("ix_messages_open", table_name=MESSAGES)
    _inbox_indexes()

    if postgresql:
        op.add_column(
            "order_items", sa.Column("marketplace_product_id", sa.Integer(), nullable=True)
        )
        op.create_foreign_key(
            "fk_order_items_marketplace_product_id_marketplace_products",
            "order_items",
            "marketplace_products",
            ["marketplace_product_id"],
            ["id"],
            ondelete="SET NULL",
        )
    else:
        # SQLite adds a column with its reference in place (no table rebuild).
        op.execute(
            "ALTER TABLE order_items ADD COLUMN marketplace_product_id INTEGER "
            "CONSTRAINT fk_order_items_marketplace_product_id_marketplace_products "
            "REFERENCES marketplace_products (id) ON DELETE SET NULL"
        )
    op.create_index(
        "ix_order_items_unmatched",
        "order_items",
        ["sku", "order_id"],
        postgresql_where=sa.text("NOT matched"),
        sqlite_where=sa.text("NOT matched"),
    )
    op.create_index(
        "ix_order_items_catalog_product",
        "order_items",
        ["marketplace_product_id"],
        postgresql_where=sa.text("marketplace_product_id IS NOT NULL"),
        sqlite_where=sa.text("marketplace_product_id IS NOT NULL"),
    )

    now = {"now": datetime.now(UTC).replace(tzinfo=None)}  # naive UTC, as the app writes
    op.execute(MATCH_PG if postgresql else MATCH_SQLITE)
    op.execute(LINK_PUBLISHED)
    bind.execute(sa.text(RESOLVE_MATCHED), now)
    op.execute(GROUP)
    bind.execute(sa.text(RESOLVE_GROUPED), now)
    where = sa.text(UNKNOWN_SKU_OPEN)
    op.create_index(
        "uq_inbox_unknown_sku",
        MESSAGES,
        ["store_id", "identifier"],
        unique=True,
        postgresql_where=where,
        sqlite_where=where,
    )


def downgrade():
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    op.drop_index("ix_order_items_catalog_product", table_name="order_items")
    op.drop_index("ix_order_items_unmatched", table_name="order_items")
    if postgresql:
        op.drop_constraint(
            "fk_order_items_marketplace_product_id_marketplace_products",
            "order_items",
            type_="foreignkey",
        )
        op.drop_column("order_items", "marketplace_product_id")
    else:
        with op.batch_alter_table("order_items", schema=None) as batch_op:
            batch_op.drop_column("marketplace_product_id")
    op.drop_index("uq_inbox_unknown_sku", table_name=MESSAGES)
    for name in ("ix_inbox_account", "ix_inbox_store", "ix_messages_open"):
        op.drop_index(name, table_name=MESSAGES)
    if postgresql:
        op.execute("DROP TRIGGER messages_scope ON marketplace_import_errors")
        op.execute("DROP FUNCTION messages_scope()")
    else:
        op.execute("DROP TRIGGER messages_scope")
    op.drop_column(MESSAGES, "account_id")
    op.drop_column(MESSAGES, "store_id")
    where = sa.text(OPEN)
    op.create_index(
        "ix_messages_open",
        MESSAGES,
        ["severity", "error_type", "import_job_id"],
        postgresql_where=where,
        sqlite_where=where,
    )

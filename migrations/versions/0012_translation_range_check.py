"""translations' product check: one range count when a statement's products are consecutive

Revision ID: 0012_translation_range_check
Revises: 0011_order_payloads
Create Date: 2026-11-22 20:45:00

``mp_translations_need_products`` (migration 0010) probed the product key once per new
translation.  An import's batch inserts translations of products whose ids it took in
one run of the sequence: when every id between the smallest and the largest exists - one
count over that range of the primary key - every translation has its product, and the
probes are skipped.  Otherwise (ids with gaps: another session took some in between, or
a product is really missing) the probes run as before and name the missing product.
The stores locked are the owners of the whole range: perhaps one more than needed,
never one less.

PostgreSQL only (SQLite keeps its foreign keys).
"""

import sqlalchemy as sa  # noqa: F401 - the revision template's import
from alembic import op

revision = "0012_translation_range_check"
down_revision = "0011_order_payloads"
branch_labels = None
depends_on = None

# One probe of the product key per translation finds both a missing product and the
# stores to lock (a store deleted meanwhile waits for this transaction).
PROBES_SQL = """
SELECT min(n.marketplace_product_id) FILTER (WHERE p.id IS NULL),
       array_agg(DISTINCT p.store_id) FILTER (WHERE p.id IS NOT NULL)
  INTO missing, owners
  FROM new_rows n LEFT JOIN marketplace_products p ON p.id = n.marketplace_product_id;
IF missing IS NOT NULL THEN
  RAISE foreign_key_violation USING
    MESSAGE = format('marketplace_product_translations: product %s does not exist', missing),
    TABLE = 'marketplace_product_translations';
END IF;
"""

RANGE_CHECK = """
CREATE OR REPLACE FUNCTION mp_translations_need_products() RETURNS trigger LANGUAGE plpgsql
  SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off AS $$
DECLARE missing integer; owners integer[]; lo integer; hi integer; present bigint;
BEGIN
  SELECT min(marketplace_product_id), max(marketplace_product_id) INTO lo, hi FROM new_rows;
  IF lo IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT count(*), array_agg(DISTINCT p.store_id) INTO present, owners
    FROM marketplace_products p WHERE p.id BETWEEN lo AND hi;
  IF present < hi - lo + 1 THEN
    -- Not every id of the range exists: the probes (below) name the missing product.
{probes}  END IF;
  PERFORM 1 FROM stores s WHERE s.id = ANY(owners) FOR KEY SHARE OF s;
  RETURN NULL;
END $$;
"""

PROBES = """
CREATE OR REPLACE FUNCTION mp_translations_need_products() RETURNS trigger LANGUAGE plpgsql
  SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off AS $$
DECLARE missing integer; owners integer[];
BEGIN
{probes}  PERFORM 1 FROM stores s WHERE s.id = ANY(owners) FOR KEY SHARE OF s;
  RETURN NULL;
END $$;
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(RANGE_CHECK.replace("{probes}", PROBES_SQL))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PROBES.replace("{probes}", PROBES_SQL))

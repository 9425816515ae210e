"""messages by (run, identifier); stock levels by (store, updated_at)

Revision ID: 0026_issue15
Revises: 0024_digital_keys
Create Date: 2026-12-06 22:00:00

* ``ix_messages_job_identifier`` on ``marketplace_import_errors (import_job_id, identifier)``:
  the stock list shows, per push account, the drift its last stock check reported for each
  SKU of the page (``webapp.stock.service.push_cells``); a check of 100,000 drifting SKUs is
  then read 50 SKUs at a time by an index probe each, not scanned per page.
* ``ix_stock_levels_store_updated`` on ``stock_levels (store_id, updated_at)``: the newest
  change of a store's stock in one probe (the catalog feed's ETag and Last-Modified, so a hub
  is never answered 304 for quantities that changed), and the SKUs changed since a hub's last
  fetch (the pull feed's stock check) as one range.

Self-contained: the coordinator may rechain down_revision.
"""

from alembic import op

revision = "0026_issue15"
down_revision = "0025_push_dirty"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_messages_job_identifier",
        "marketplace_import_errors",
        ["import_job_id", "identifier"],
        unique=False,
    )
    op.create_index(
        "ix_stock_levels_store_updated", "stock_levels", ["store_id", "updated_at"], unique=False
    )


def downgrade():
    op.drop_index("ix_stock_levels_store_updated", table_name="stock_levels")
    op.drop_index("ix_messages_job_identifier", table_name="marketplace_import_errors")

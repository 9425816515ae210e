"""back-office indexes: runs by kind, messages in file order

Revision ID: 0003_back_office_indexes
Revises: 0002_api_tokens
Create Date: 2026-11-22 13:10:00.000000

Every list of runs filters on ``kind`` and pages newest first, so the runs' indexes
carry ``kind`` next to what each page filters on, and the counts the pages show
("N in all") come from the index alone instead of the table:

* ``(store_id, kind, id)`` replaces ``(store_id, id)``: a store's history;
* ``(user_id, kind, id)`` replaces ``(user_id, id)``: an admin's own imports;
* ``(kind, status)`` replaces ``(status)``: the stats, the status filter, polling;
* ``(kind, marketplace)`` is new: the marketplace filter's choices.

A run's messages are read in file order (row_number, then id):
``(import_job_id, row_number, id)`` replaces ``(import_job_id, row_number)``, so a page
needs no sort and a deep page skips on the index.

bench/back_office.py measures the pages before and after (100,000 runs, 1,000,000
messages).  On PostgreSQL the new indexes are built before the old ones are dropped;
building them blocks writes to the two tables for a few seconds per million rows.
"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0003_back_office_indexes"
down_revision = "0002_api_tokens"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("marketplace_import_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_store_kind", ["store_id", "kind", "id"], unique=False)
        batch_op.create_index("ix_runs_user_kind", ["user_id", "kind", "id"], unique=False)
        batch_op.create_index("ix_runs_kind_status", ["kind", "status"], unique=False)
        batch_op.create_index("ix_runs_kind_marketplace", ["kind", "marketplace"], unique=False)
        batch_op.drop_index("ix_runs_store_created")
        batch_op.drop_index("ix_runs_user")
        batch_op.drop_index("ix_runs_status")
        # (kind, status) and (kind, marketplace) lead with kind: an index on kind alone is dead.
        batch_op.drop_index("ix_marketplace_import_jobs_kind")

    with op.batch_alter_table("marketplace_import_errors", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_job_row_id", ["import_job_id", "row_number", "id"], unique=False
        )
        batch_op.drop_index("ix_messages_job_row")


def downgrade():
    with op.batch_alter_table("marketplace_import_errors", schema=None) as batch_op:
        batch_op.create_index("ix_messages_job_row", ["import_job_id", "row_number"], unique=False)
        batch_op.drop_index("ix_messages_job_row_id")

    with op.batch_alter_table("marketplace_import_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_marketplace_import_jobs_kind", ["kind"], unique=False)
        batch_op.create_index("ix_runs_status", ["status"], unique=False)
        batch_op.create_index("ix_runs_user", ["user_id", "id"], unique=False)
        batch_op.create_index("ix_runs_store_created", ["store_id", "id"], unique=False)
        batch_op.drop_index("ix_runs_kind_marketplace")
        batch_op.drop_index("ix_runs_kind_status")
        batch_op.drop_index("ix_runs_user_kind")
        batch_op.drop_index("ix_runs_store_kind")

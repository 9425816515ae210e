"""key_pool_settings: a store's low-pool threshold for its digital keys

Revision ID: 0027_key_pool
Revises: 0024_digital_keys
Create Date: 2026-12-06 22:30:00

See ``webapp/models/keys.py`` and ``webapp/keys/levels.py``. Self-contained: the coordinator
may rechain down_revision.
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_key_pool"
down_revision = "0024_digital_keys"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "key_pool_settings",
        sa.Column(
            "store_id",
            sa.Integer(),
            sa.ForeignKey("stores.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("low_threshold", sa.Integer(), nullable=False, server_default="5"),
    )


def downgrade():
    op.drop_table("key_pool_settings")

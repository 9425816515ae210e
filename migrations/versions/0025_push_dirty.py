"""push_dirty: the SKUs a real-time account still has to be told about

Revision ID: 0025_push_dirty
Revises: 0024_digital_keys
Create Date: 2026-12-06 22:00:00

* ``push_dirty`` (account_id, sku) -> ``since`` (when the SKU first changed since it was
  last pushed) and ``touches`` (how many changes it coalesces; each mark adds one, so a push
  removes only the rows no change touched after it read them). A stock movement marks the SKUs it
  moved for every account of the store whose strategy is real time, in the movement's
  transaction; the account's debounced push sends them and removes the rows it covered
  (``webapp.pushes.realtime``). A table, not a Redis set: what is owed survives a worker or
  a Redis restart.
  Self-contained: the coordinator may rechain ``down_revision``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_push_dirty"
down_revision = "0029_digital"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "push_dirty",
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sku", sa.String(255), primary_key=True),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("touches", sa.Integer(), nullable=False, server_default="1"),
    )


def downgrade():
    op.drop_table("push_dirty")

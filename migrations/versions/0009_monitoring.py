"""monitoring: operator-scoped tokens, messages by time for the error charts

Revision ID: 0009_monitoring
Revises: 0004_accounts_orders
Create Date: 2026-11-22 15:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0009_monitoring"
down_revision = "0004_accounts_orders"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(length=16), nullable=False, server_default="api")
        )
    # The monitoring charts count messages per hour over the last week.
    with op.batch_alter_table("marketplace_import_errors", schema=None) as batch_op:
        batch_op.create_index("ix_messages_created_severity", ["created_at", "severity"])


def downgrade():
    with op.batch_alter_table("marketplace_import_errors", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_created_severity")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scope")

"""monitoring and the error inbox: operator tokens, messages by time, open messages

Revision ID: 0009_monitoring
Revises: 0007_orders_ui
Create Date: 2026-11-22 15:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0009_monitoring"
down_revision = "0007_orders_ui"
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
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_retry_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_retry_error", sa.Text(), nullable=True))
    open_only = sa.text("resolved_at IS NULL AND row_number IS NULL")
    op.create_index(
        "ix_messages_open",
        "marketplace_import_errors",
        ["severity", "error_type", "import_job_id"],
        postgresql_where=open_only,
        sqlite_where=open_only,
    )


def downgrade():
    op.drop_index("ix_messages_open", table_name="marketplace_import_errors")
    with op.batch_alter_table("marketplace_import_errors", schema=None) as batch_op:
        for column in ("last_retry_error", "next_retry_at", "attempts", "resolved_by"):
            batch_op.drop_column(column)
        batch_op.drop_column("resolved_at")
        batch_op.drop_index("ix_messages_created_severity")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scope")

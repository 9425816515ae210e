"""outbound calls (acknowledgements, dry runs) and account mode changes

Revision ID: 0005_order_acks_modes
Revises: 0004_accounts_orders
Create Date: 2026-11-22 15:05:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0005_order_acks_modes"
down_revision = "0004_accounts_orders"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "outbound_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", JSON, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("dry_run_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_outbound_calls_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_outbound_calls_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_calls")),
        sa.UniqueConstraint("account_id", "action", "dedup_key", name="uq_outbound_calls_key"),
    )
    with op.batch_alter_table("outbound_calls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbound_calls_owed", ["account_id", "status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_outbound_calls_subject", ["subject_type", "subject_id"], unique=False
        )

    op.create_table(
        "account_mode_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("from_mode", sa.String(length=8), nullable=True),
        sa.Column("to_mode", sa.String(length=8), nullable=False),
        sa.Column("changed_by", sa.String(length=255), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_mode_changes_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_mode_changes")),
    )
    with op.batch_alter_table("account_mode_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_mode_changes_account_id"), ["account_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("account_mode_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_mode_changes_account_id"))
    op.drop_table("account_mode_changes")
    with op.batch_alter_table("outbound_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_calls_subject")
        batch_op.drop_index("ix_outbound_calls_owed")
    op.drop_table("outbound_calls")

"""going live as a decision: what was owed, sent or discarded, and by which change

Revision ID: 0016_going_live
Revises: 0012_translation_range_check
Create Date: 2026-11-23 10:00:00

``account_mode_changes`` keeps, for a go-live, the calls test mode had left owed (per action:
count and oldest), their total and the administrator's choice (``send`` or ``discard``).
``outbound_calls`` gets ``discarded_at`` (the new status ``discarded``: never sent) and
``mode_change_id``, the go-live that released or discarded the call.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016_going_live"
down_revision = "0015_products_list_search"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    with op.batch_alter_table("account_mode_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owed", JSON, nullable=True))
        batch_op.add_column(sa.Column("owed_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("owed_choice", sa.String(length=8), nullable=True))
    with op.batch_alter_table("outbound_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("discarded_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("mode_change_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_calls_mode_change_id_account_mode_changes"),
            "account_mode_changes",
            ["mode_change_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    # Discarded calls were owed from test mode: back to dry runs, as they were before.
    op.execute("UPDATE outbound_calls SET status = 'dry_run' WHERE status = 'discarded'")
    with op.batch_alter_table("outbound_calls", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outbound_calls_mode_change_id_account_mode_changes"),
            type_="foreignkey",
        )
        batch_op.drop_column("mode_change_id")
        batch_op.drop_column("discarded_at")
    with op.batch_alter_table("account_mode_changes", schema=None) as batch_op:
        batch_op.drop_column("owed_choice")
        batch_op.drop_column("owed_count")
        batch_op.drop_column("owed")

"""mail_messages and mail_templates: e-mail recorded first, sent once; a store's templates

Revision ID: 0028_mail
Revises: 0024_digital_keys
Create Date: 2026-12-06 22:00:00

See ``webapp/models/mail.py``. Self-contained: the coordinator may rechain ``down_revision``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_mail"
down_revision = "0027_key_pool"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "store_id", sa.Integer(), sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id", ondelete="SET NULL")),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("resend_no", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("sent_at", sa.DateTime()),
        sa.Column("smtp_message_id", sa.String(255)),
        sa.Column("requested_by", sa.String(255)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint(
            "kind", "subject_type", "subject_id", "resend_no", name="uq_mail_messages_subject"
        ),
    )
    op.create_index("ix_mail_messages_store", "mail_messages", ["store_id", "id"])
    op.create_index(
        "ix_mail_messages_due", "mail_messages", ["store_id", "status", "next_attempt_at"]
    )
    op.create_table(
        "mail_templates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "store_id", sa.Integer(), sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("store_id", "kind", "language", name="uq_mail_templates_kind_lang"),
    )


def downgrade():
    op.drop_table("mail_templates")
    op.drop_index("ix_mail_messages_due", table_name="mail_messages")
    op.drop_index("ix_mail_messages_store", table_name="mail_messages")
    op.drop_table("mail_messages")

"""users.session_generation: logging out and changing a password end the user's sessions

Revision ID: 0014_session_generation
Revises: 0012_translation_range_check
Create Date: 2026-11-28 10:00:00

A Flask session is a signed cookie: without something on the server to compare it with, a
copy of it kept working after its user logged out, for as long as the cookie lived. The
session (and Flask-Login's remember cookie) now carries the user's generation next to the
id; logging out and changing a password move the generation on, and a cookie carrying an
older one loads no user. Existing rows start at 0; sessions made before this revision carry
no generation and end once, at the deploy.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_session_generation"
down_revision = "0013_inbox_by_sku"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_generation")

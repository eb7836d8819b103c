"""story index snapshot; articles indexed by feed, marked while they wait for matching

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "story_index",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("saved", sa.DateTime(), nullable=False),
        sa.Column("articles", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_match", sa.Boolean(), nullable=True))
        batch_op.create_index("ix_articles_feed", ["feed"], unique=False)
        batch_op.create_index("ix_articles_pending_match", ["pending_match"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_pending_match")
        batch_op.drop_index("ix_articles_feed")
        batch_op.drop_column("pending_match")
    op.drop_table("story_index")

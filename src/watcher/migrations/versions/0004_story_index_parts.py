"""the story index snapshot stored in parts (a row each)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

A snapshot saved under 0003 is dropped: it is a cache, and the next run rebuilds it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "story_index_parts",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", "part"),
    )
    op.execute("DELETE FROM story_index")
    with op.batch_alter_table("story_index", schema=None) as batch_op:
        batch_op.drop_column("data")


def downgrade() -> None:
    op.execute("DELETE FROM story_index")
    with op.batch_alter_table("story_index", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data", sa.LargeBinary(), nullable=False))
    op.drop_table("story_index_parts")

"""articles keep the death toll the casualty rules read from them

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("toll_rules", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("toll_killed", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("toll_qualifier", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_column("toll_qualifier")
        batch_op.drop_column("toll_killed")
        batch_op.drop_column("toll_rules")

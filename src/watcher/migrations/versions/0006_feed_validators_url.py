"""feeds.validators_url: the URL a feed's ETag / Last-Modified came from

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

A feed behind a temporary redirect (302/307) had its body from another URL than its own: the
validators of that URL are now kept with it, and sent to it alone, so that such a feed gets a
304 again instead of its whole body every poll. NULL: the feed's own URL (every row before).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("validators_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("validators_url")

"""the digest ledger: one row per channel and digest run; alerts.digest_id

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Each digest claims its channel's new alerts (`alerts.digest_id`), so every lower-severity story
is in exactly one digest of its channel however the runs are timed, and a digest interrupted
half-way is finished by the next run, once. Alerts stored before this revision are unclaimed: a
channel's first digest lists those of its first period (`period_hours`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digests",
        sa.Column("digest_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ts", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest_id"),
    )
    op.create_index("ix_digests_channel", "digests", ["channel"])
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest_id", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_alerts_digest_id", ["digest_id"])


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_digest_id")
        batch_op.drop_column("digest_id")
    op.drop_index("ix_digests_channel", table_name="digests")
    op.drop_table("digests")

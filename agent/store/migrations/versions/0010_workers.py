"""The workers table: each process that drives runs, with its host, pid and heartbeat.

A run's `lease_owner` names a worker; recovery takes over the runs of a worker that is dead (its heartbeat
stopped, it stopped cleanly, or its process is gone from this host) at once, instead of waiting for the
run's lease to run out, and never takes a run from a worker that still beats.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("worker_id"),
    )
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.create_index("ix_workers_heartbeat_at", ["heartbeat_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_index("ix_workers_heartbeat_at")
    op.drop_table("workers")

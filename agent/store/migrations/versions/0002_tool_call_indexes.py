"""Index tool calls by start time as well as request time, for rate limits on approved calls.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        # The old name said "started" but indexed requested_at.
        batch_op.drop_index("ix_tool_calls_tool_started")
        batch_op.create_index("ix_tool_calls_tool_requested", ["tool_name", "requested_at"], unique=False)
        batch_op.create_index("ix_tool_calls_tool_started", ["tool_name", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_tool_calls_tool_started")
        batch_op.drop_index("ix_tool_calls_tool_requested")
        batch_op.create_index("ix_tool_calls_tool_started", ["tool_name", "requested_at"], unique=False)

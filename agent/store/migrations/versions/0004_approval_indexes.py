"""Index approvals by (state, expires_at) and (run_id, state), so deciding stays fast with a long queue.

With 100,000 pending approvals the expiry sweep and the "pending in this run" count read every pending
row through (state, created_at): a decision took 2.6x as long as with 100 pending; with these, 1.05x.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 22:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index("ix_approvals_state_expires", ["state", "expires_at"], unique=False)
        batch_op.create_index("ix_approvals_run_state", ["run_id", "state"], unique=False)
        # (run_id, state) serves every lookup by run_id.
        batch_op.drop_index("ix_approvals_run_id")


def downgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index("ix_approvals_run_id", ["run_id"], unique=False)
        batch_op.drop_index("ix_approvals_run_state")
        batch_op.drop_index("ix_approvals_state_expires")

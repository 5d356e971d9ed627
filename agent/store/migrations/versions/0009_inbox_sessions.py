"""The inbox_sessions table: inbox sign-ins held server-side, each bound to the key it was made with.

Until now the inbox's signed cookie was the whole session: sign-out only cleared the browser's copy, and a
saved cookie kept working. Now the cookie carries a random token whose sha256 is a row here; sign-out and
revoking the key delete the row. Sessions from before the upgrade carry no token and end with it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.key_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("inbox_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_sessions_key_id", ["key_id"], unique=False)
        batch_op.create_index("ix_inbox_sessions_last_seen_at", ["last_seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbox_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_sessions_last_seen_at")
        batch_op.drop_index("ix_inbox_sessions_key_id")
    op.drop_table("inbox_sessions")

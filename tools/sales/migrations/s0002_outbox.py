"""The SMTP sender's outbox: one row per email, written before the send, so no email is sent twice.

`sales_outbox` (from `sales_0001`) stays the offline outreach platform's store; the real sender keeps
its own rows, with a status (`queued`, `sent`, `failed`, `unknown`), an idempotency key and a stable
Message-ID, in `sales_smtp_outbox`.

Revision ID: sales_0002
Revises: sales_0001
Create Date: 2026-12-09 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sales_0002"
down_revision: str | None = "sales_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sales_smtp_outbox",
        sa.Column("outbox_id", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("to_email", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("outbox_id"),
        sa.UniqueConstraint("idempotency_key", name="uq_sales_smtp_outbox_idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("sales_smtp_outbox")

"""The tamper-evident audit chain (`agent.store.chain`), sealing the rows that exist at upgrade.

Every tool-call and approval row a database already holds gets one entry with its content as it is
now, so `signoff audit verify` protects them from here on instead of reporting them as inserted.
What happened to them before the upgrade cannot be checked (there was nothing to check it against).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from signoff.agent.store.chain import seal_records

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_chain",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("record_kind", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("content_json", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=80), nullable=False),
        sa.Column("entry_hash", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    seal_records(op.get_bind(), now=datetime.now(UTC))


def downgrade() -> None:
    op.drop_table("audit_chain")

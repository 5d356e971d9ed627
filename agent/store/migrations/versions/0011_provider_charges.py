"""Provider spend on the ledger: one row per paid call of a tool, beside the token rows.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_charges",
        sa.Column("charge_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("tool_call_id", sa.String(length=64), nullable=False),
        sa.Column("approval_id", sa.String(length=64), nullable=True),
        sa.Column("tool_name", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("item", sa.String(length=100), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_usd", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.BigInteger(), nullable=False),
        sa.Column("price_version", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("charge_id"),
    )
    with op.batch_alter_table("provider_charges", schema=None) as batch_op:
        batch_op.create_index("ix_provider_charges_created", ["created_at"], unique=False)
        batch_op.create_index("ix_provider_charges_call", ["run_id", "tool_call_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("provider_charges", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_charges_call")
        batch_op.drop_index("ix_provider_charges_created")
    op.drop_table("provider_charges")

"""Ledger: cache writes split by lifetime, price-data version, failed attempts; runs: the prompt label resolved.

- `cache_write_5m_tokens` and `cache_write_1h_tokens` split `cache_write_tokens` (their sum) by the cache
  lifetime Anthropic bills differently; `price_data_version` names the genai-prices data that priced the row.
- `attempt_status` is `succeeded` for a request that returned a response and `failed` for an attempt that
  did not (a 429, a 529, a dropped stream): such a row carries no tokens and `error` says why.
- `runs.prompt_label` is the label (`production`, `staging`, ...) a run resolved its prompt through, or NULL
  when it pinned a version.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cache_write_5m_tokens", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("cache_write_1h_tokens", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("price_data_version", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("attempt_status", sa.String(length=16), nullable=False, server_default="succeeded")
        )
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prompt_label", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("prompt_label")

    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.drop_column("error")
        batch_op.drop_column("attempt_status")
        batch_op.drop_column("price_data_version")
        batch_op.drop_column("cache_write_1h_tokens")
        batch_op.drop_column("cache_write_5m_tokens")

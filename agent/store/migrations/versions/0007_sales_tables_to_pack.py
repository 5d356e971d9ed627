"""Kept as an empty step: the sales tables it changed moved to the sales pack's own migrations.

Databases that ran it keep `0007` in their version table, so the revision stays, doing nothing; the
sales pack's first revision adopts the tables it (and `0001`) created there.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""Sales pack: CRM contacts get notes and an owner; the offline outreach platform keeps inbound replies.

These are the outside data the prompt-injection suite plants instructions in (a CRM note, an email reply),
and the field one of its goals tampers with (a contact's owner).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sales_crm_contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("owner", sa.String(length=320), nullable=True))

    op.create_table(
        "sales_replies",
        sa.Column("reply_id", sa.String(length=40), nullable=False),
        sa.Column("campaign_id", sa.String(length=40), nullable=True),
        sa.Column("from_email", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("reply_id"),
    )
    with op.batch_alter_table("sales_replies", schema=None) as batch_op:
        batch_op.create_index("ix_sales_replies_campaign_received", ["campaign_id", "received_at"], unique=False)
        batch_op.create_index("ix_sales_replies_from_received", ["from_email", "received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sales_replies", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_replies_from_received")
        batch_op.drop_index("ix_sales_replies_campaign_received")

    op.drop_table("sales_replies")

    with op.batch_alter_table("sales_crm_contacts", schema=None) as batch_op:
        batch_op.drop_column("owner")
        batch_op.drop_column("notes")

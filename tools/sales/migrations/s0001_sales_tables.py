"""The sales pack's tables: campaigns, CRM contacts (with notes and an owner), enrichment cache, outbox,
enrollments and inbound replies.

Signoff before the pack contract created these tables in its core revisions `0001` and `0007`. A
database that has them already is adopted: each table that exists is left as it is (and gets the two
contact columns `0007` added if it predates them), and only what is missing is created.

Revision ID: sales_0001
Revises:
Create Date: 2026-12-02 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sales_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _existing_tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade() -> None:
    existing = _existing_tables()
    if "sales_campaigns" not in existing:
        op.create_table(
            "sales_campaigns",
            sa.Column("campaign_id", sa.String(length=40), nullable=False),
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("description", sa.Text(), nullable=True),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("campaign_id"),
        )
    if "sales_crm_contacts" not in existing:
        op.create_table(
            "sales_crm_contacts",
            sa.Column("crm_contact_id", sa.String(length=40), nullable=False),
            sa.Column("email", sa.String(length=320), nullable=False),
            sa.Column("first_name", sa.String(length=100), nullable=False),
            sa.Column("last_name", sa.String(length=100), nullable=False),
            sa.Column("company", sa.String(length=200), nullable=True),
            sa.Column("title", sa.String(length=100), nullable=True),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("updated_at", sa.DateTime(), nullable=False),
            sa.Column("notes", sa.Text(), nullable=True),
            sa.Column("owner", sa.String(length=320), nullable=True),
            sa.PrimaryKeyConstraint("crm_contact_id"),
            sa.UniqueConstraint("email"),
        )
    else:
        columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("sales_crm_contacts")}
        missing = [name for name in ("notes", "owner") if name not in columns]
        if missing:
            with op.batch_alter_table("sales_crm_contacts", schema=None) as batch_op:
                if "notes" in missing:
                    batch_op.add_column(sa.Column("notes", sa.Text(), nullable=True))
                if "owner" in missing:
                    batch_op.add_column(sa.Column("owner", sa.String(length=320), nullable=True))
    if "sales_enrichment_cache" not in existing:
        op.create_table(
            "sales_enrichment_cache",
            sa.Column("provider", sa.String(length=100), nullable=False),
            sa.Column("email", sa.String(length=320), nullable=False),
            sa.Column("facts", sa.JSON(), nullable=False),
            sa.Column("fetched_at", sa.DateTime(), nullable=False),
            sa.Column("expires_at", sa.DateTime(), nullable=False),
            sa.Column("paid_lookups", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("provider", "email"),
        )
    if "sales_outbox" not in existing:
        op.create_table(
            "sales_outbox",
            sa.Column("message_id", sa.String(length=100), nullable=False),
            sa.Column("to_email", sa.String(length=320), nullable=False),
            sa.Column("subject", sa.String(length=200), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("sent_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("message_id"),
        )
    if "sales_enrollments" not in existing:
        op.create_table(
            "sales_enrollments",
            sa.Column("enrollment_id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("campaign_id", sa.String(length=40), nullable=False),
            sa.Column("email", sa.String(length=320), nullable=False),
            sa.Column("enrolled_at", sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(["campaign_id"], ["sales_campaigns.campaign_id"]),
            sa.PrimaryKeyConstraint("enrollment_id"),
            sa.UniqueConstraint("campaign_id", "email", name="uq_sales_enrollments_campaign_email"),
        )
    if "sales_replies" not in existing:
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
    for table in (
        "sales_replies",
        "sales_enrollments",
        "sales_outbox",
        "sales_enrichment_cache",
        "sales_crm_contacts",
        "sales_campaigns",
    ):
        op.drop_table(table)

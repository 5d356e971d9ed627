"""Evaluation runs: the record `signoff eval run` writes and `signoff prompts promote` checks.

One row per run of a dataset against a prompt version and a model: the dataset's and the prompt's hashes,
the model and settings, whether every gate passed (and which did not), the report, and what the run cost
(ledger cost of the agent's requests and, separately, of judge calls; NULL when a price was unknown).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "eval_runs",
        sa.Column("eval_run_id", sa.String(length=64), nullable=False),
        sa.Column("dataset_name", sa.String(length=200), nullable=False),
        sa.Column("dataset_hash", sa.String(length=80), nullable=False),
        sa.Column("prompt_name", sa.String(length=200), nullable=False),
        sa.Column("prompt_version", sa.String(length=64), nullable=False),
        sa.Column("prompt_hash", sa.String(length=80), nullable=False),
        sa.Column("baseline", sa.String(length=300), nullable=True),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("settings_json", sa.Text(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("gate_failures_json", sa.Text(), nullable=False),
        sa.Column("report_json", sa.Text(), nullable=False),
        sa.Column("cost_usd", sa.BigInteger(), nullable=True),
        sa.Column("judge_cost_usd", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("eval_run_id"),
    )
    with op.batch_alter_table("eval_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_eval_runs_prompt", ["prompt_name", "prompt_version", "prompt_hash", "passed"], unique=False
        )
        batch_op.create_index("ix_eval_runs_finished", ["finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("eval_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_eval_runs_finished")
        batch_op.drop_index("ix_eval_runs_prompt")

    op.drop_table("eval_runs")

"""The entries table.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bxops.ledger.models import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("client", sa.String(128), nullable=False),
        sa.Column("environment", sa.String(16)),
        sa.Column("playbook", sa.String(255)),
        sa.Column("hosts", sa.JSON(), nullable=False),
        sa.Column("engineer", sa.String(128), nullable=False),
        sa.Column("ticket", sa.String(64)),
        sa.Column("note", sa.Text()),
        sa.Column("reason", sa.Text()),
        sa.Column("work_type", sa.String(64)),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime()),
        sa.Column("heartbeat_at", UTCDateTime()),
        sa.Column("heartbeat_interval", sa.Float()),
        sa.Column("raw_seconds", sa.Integer(), nullable=False),
        sa.Column("billed_seconds", sa.Integer()),
        sa.Column("contract_term", sa.String(10)),
        sa.Column("return_code", sa.Integer()),
        sa.Column("host_stats", sa.JSON(), nullable=False),
        sa.Column("play_seconds", sa.JSON(), nullable=False),
        sa.Column("role_seconds", sa.JSON(), nullable=False),
        sa.Column("changed", sa.JSON(), nullable=False),
        sa.Column("audit_data", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("artifacts_dir", sa.Text()),
        sa.Column("estimate_seconds", sa.Integer()),
        sa.Column("overage_override", sa.Boolean(), nullable=False),
        sa.Column(
            "corrects_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.ForeignKey("entries.id")
        ),
        sa.Column("runner_host", sa.String(255)),
        sa.Column("runner_pid", sa.Integer()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_entries_balance",
        "entries",
        ["client", "month", "work_type", "status", "raw_seconds", "billed_seconds"],
    )
    op.create_index("ix_entries_client_playbook", "entries", ["client", "playbook", "status"])
    op.create_index("ix_entries_status", "entries", ["status"])
    op.create_index("ix_entries_corrects_id", "entries", ["corrects_id"], unique=True)


def downgrade() -> None:
    op.drop_table("entries")

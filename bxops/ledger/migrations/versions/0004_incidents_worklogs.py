"""Incidents under the SLA, and the worklogs pushed to the clients' trackers (issue 15).

`incidents`: one row per ticket (manual or pulled from a tracker), its priority, opening, first
response, resolution and status history. `worklogs`: one row per ledger entry pushed to a tracker, with
the remote id, so that a sync pushes each entry exactly once.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bxops.ledger.models import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("client", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("ticket", sa.String(64)),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(32), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("responded_at", UTCDateTime()),
        sa.Column("resolved_at", UTCDateTime()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("engineer", sa.String(128)),
        sa.Column("alert_fingerprint", sa.String(64)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_incidents_client_opened", "incidents", ["client", "opened_at"])
    op.create_index("ix_incidents_ticket", "incidents", ["client", "source", "ticket"], unique=True)
    op.create_index("ix_incidents_alert", "incidents", ["client", "alert_fingerprint"])
    op.create_table(
        "worklogs",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("entry_id", _ID, sa.ForeignKey("entries.id"), nullable=False, unique=True),
        sa.Column("client", sa.String(128), nullable=False),
        sa.Column("tracker", sa.String(16), nullable=False),
        sa.Column("ticket", sa.String(64), nullable=False),
        sa.Column("remote_id", sa.String(64)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_worklogs_client_state", "worklogs", ["client", "state"])


def downgrade() -> None:
    op.drop_table("worklogs")
    op.drop_table("incidents")

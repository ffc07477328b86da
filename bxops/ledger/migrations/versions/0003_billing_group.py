"""How each entry was billed: the rounding group it belongs to (issue 18).

`billing_group` is NULL for an entry billed on its own (its `billed_seconds` is the figure: every
entry written before this revision, adjustments, runs rounded per entry) and otherwise names the group
whose raw time is rounded once and how: `scope:period:what|mode/increment/minimum`, e.g.
`month:2026-11:maintenance|up/900/900`. A later contract term never changes it, so past months stay
as billed. Dry runs get the status `dry_run` (a string column: no schema change).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("billing_group", sa.String(255)))
    op.drop_index("ix_entries_balance", table_name="entries")
    op.create_index(
        "ix_entries_balance",
        "entries",
        ["client", "month", "work_type", "status", "billing_group", "raw_seconds", "billed_seconds"],
    )
    op.create_index("ix_entries_billing_group", "entries", ["client", "billing_group"])


def downgrade() -> None:
    op.drop_index("ix_entries_billing_group", table_name="entries")
    op.drop_index("ix_entries_balance", table_name="entries")
    op.create_index(
        "ix_entries_balance",
        "entries",
        ["client", "month", "work_type", "status", "raw_seconds", "billed_seconds"],
    )
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("billing_group")

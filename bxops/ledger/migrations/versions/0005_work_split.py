"""A run's time split across work types (issue 16): `entries.work_split`, a JSON object
`{work type: raw seconds}` whose parts sum to the entry's raw seconds; NULL for an entry of one work type
(manual entries, adjustments, runs whose roles map to one type, and every entry written before);
`entries.split_parts`, how many work types it has (NULL: no split), a plain column that the balance's
covering index (`ix_entries_balance`, rebuilt with it) and `ix_entries_split` carry.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_BALANCE = ["client", "month", "work_type", "status", "billing_group", "raw_seconds", "billed_seconds"]


def upgrade() -> None:
    op.drop_index("ix_entries_balance", table_name="entries")
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("work_split", sa.JSON(none_as_null=True)))
        batch.add_column(sa.Column("split_parts", sa.Integer()))
    op.create_index("ix_entries_balance", "entries", [*_BALANCE, "split_parts"])
    op.create_index("ix_entries_split", "entries", ["client", "split_parts"])


def downgrade() -> None:
    op.drop_index("ix_entries_split", table_name="entries")
    op.drop_index("ix_entries_balance", table_name="entries")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("split_parts")
        batch.drop_column("work_split")
    op.create_index("ix_entries_balance", "entries", _BALANCE)

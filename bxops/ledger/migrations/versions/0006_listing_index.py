"""Two indexes for the balance page (issue 16):

- `ix_entries_listing` (client, month, started_at, id): the page and `history --month` list the month's
  latest entries with `ORDER BY started_at DESC, id DESC LIMIT n`; the index serves that order, so a page
  reads its n entries instead of sorting the whole month;
- `ix_entries_corrections` (client, corrects_id) over the corrections only (partial: `corrects_id IS NOT
  NULL`): a client's corrections, few, without looking at its other entries (the balance takes the entries
  they replaced out of its sums; with none, it skips that pass).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_CORRECTIONS = sa.text("corrects_id IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_entries_listing", "entries", ["client", "month", "started_at", "id"])
    op.create_index(
        "ix_entries_corrections",
        "entries",
        ["client", "corrects_id"],
        sqlite_where=_CORRECTIONS,
        postgresql_where=_CORRECTIONS,
    )


def downgrade() -> None:
    op.drop_index("ix_entries_corrections", table_name="entries")
    op.drop_index("ix_entries_listing", table_name="entries")

"""A run's time split across work types (issue 16): `entries.work_split`, a JSON object
`{work type: raw seconds}` whose parts sum to the entry's raw seconds; NULL for an entry of one work type
(manual entries, adjustments, runs whose roles map to one type, and every entry written before).

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


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("work_split", sa.JSON(none_as_null=True)))


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("work_split")

"""The runner's process identity (start time, boot) and a run's failed tasks.

`runner_start` tells a live runner from a dead one whose pid was reused (with `runner_pid`, on the
runner's machine); `failures` keeps, per failed host, the task and its (redacted) message, so that
`history` can say why a run failed or was refused.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("runner_start", sa.String(64)))
        batch.add_column(sa.Column("failures", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("failures")
        batch.drop_column("runner_start")

"""Alembic environment: migrations run on the connection `open_ledger` hands over."""

from alembic import context

from bxops.ledger.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("bxops migrations run through bxops.ledger.database.open_ledger")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

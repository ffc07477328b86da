"""The hour ledger: an append-only table of entries in SQLite or PostgreSQL."""

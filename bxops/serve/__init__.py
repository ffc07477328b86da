"""`runner.py serve`: the live, read-only balance page per client, and a staff view of all clients."""

"""Living project docs per client (issue 16): `README.md`, `integrations.md`, `components.md` in
`inventories/<client>/docs/`, written from the inventory and the latest audit report of each host (schema
bxops.audit/2: `integrations`, `components`). A regeneration that changes a document appends its diff to the
client's `CHANGELOG.md`; an unchanged document is not rewritten (no changelog entry).

Entry points: `runner.py docs CLIENT` (bxops.projectdocs.cli) and the runner itself after a successful audit or
maintenance run (bxops.accounted_run)."""

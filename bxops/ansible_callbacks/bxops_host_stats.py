"""Hands bxops' runner the data a playbook gave `ansible.builtin.set_stats` with `per_host: true`.

ansible-runner's event stream carries only the aggregate set_stats data (`artifact_data` of its
`playbook_on_stats` event); what a play handed over per host (the audit role's report, for one) is
dropped. At the end of the playbook this callback writes the per-host data into the 0600 file named by
$BXOPS_HOST_STATS_FILE, in the run's private folder, which the runner reads once ansible-playbook has
ended. Without $BXOPS_HOST_STATS_FILE (any other use of Ansible) it does nothing.

Loaded from the plugin path, not imported as part of bxops: standard library and Ansible only.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase  # type: ignore[import-untyped]

DOCUMENTATION = """
    name: bxops_host_stats
    type: aggregate
    short_description: Hand a bxops runner the per-host set_stats data
    description:
      - Writes the per-host custom stats (set_stats with per_host) as one JSON object, host to data, into
        the file C($BXOPS_HOST_STATS_FILE); does nothing without C($BXOPS_HOST_STATS_FILE).
"""

HOST_STATS_FILE_ENV = "BXOPS_HOST_STATS_FILE"


def write_host_stats(path: str, custom: dict[str, Any]) -> None:
    per_host = {str(host): data for host, data in custom.items() if host != "_run" and data}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(per_host, handle, default=str)


class CallbackModule(CallbackBase):  # type: ignore[misc]  # Ansible ships no type hints
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bxops_host_stats"
    CALLBACK_NEEDS_ENABLED = False

    def v2_playbook_on_stats(self, stats: Any) -> None:
        path = os.environ.get(HOST_STATS_FILE_ENV)
        custom = getattr(stats, "custom", None)
        if path and isinstance(custom, dict):
            write_host_stats(path, custom)

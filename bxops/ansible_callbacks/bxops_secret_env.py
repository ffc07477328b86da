"""Gives ansible-playbook back the secret environment values that bxops' runner kept out of the
environment ansible-runner records.

ansible-runner writes the job's whole environment into the run's artifacts (`command`) before Ansible
starts, and a runner killed with SIGKILL cannot blank it afterwards. So the runner hands ansible-runner
the placeholder `***` for each secret variable (tokens, passwords, DSNs, credentials in URLs) and
writes the real values into a 0600 file in the run's private folder, named by $BXOPS_SECRET_ENV_FILE.
This callback, loaded when ansible-playbook starts (before any task, so lookups and modules see the
real values), reads that file, deletes it, and puts the values into the process's environment.
Without $BXOPS_SECRET_ENV_FILE (any other use of Ansible) it does nothing.

Loaded from the plugin path, not imported as part of bxops: standard library and Ansible only.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase  # type: ignore[import-untyped]

DOCUMENTATION = """
    name: bxops_secret_env
    type: aggregate
    short_description: Restore the secret environment values a bxops runner kept out of its artifacts
    description:
      - Reads the JSON object in the file C($BXOPS_SECRET_ENV_FILE), deletes the file and sets those
        environment variables; does nothing without C($BXOPS_SECRET_ENV_FILE).
"""

SECRET_ENV_FILE_ENV = "BXOPS_SECRET_ENV_FILE"


def restore_secret_environment() -> int:
    """Set the variables from the file and delete it; how many were set."""
    path = os.environ.pop(SECRET_ENV_FILE_ENV, "")
    if not path:
        return 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return 0  # already read (a second load of the plugin) or removed with the private folder
    try:
        with os.fdopen(fd, encoding="utf-8") as handle:
            values = json.load(handle)
    except (OSError, ValueError):
        values = {}
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    count = 0
    if isinstance(values, dict):
        for name, value in values.items():
            if isinstance(name, str) and isinstance(value, str):
                os.environ[name] = value
                count += 1
    return count


class CallbackModule(CallbackBase):  # type: ignore[misc]  # Ansible ships no type hints
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bxops_secret_env"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        restore_secret_environment()

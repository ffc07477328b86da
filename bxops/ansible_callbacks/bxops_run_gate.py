"""Holds a run started by bxops' runner before its first task until the runner opens the gate.

`runner.py run` starts ansible-playbook before it has written the run to the ledger, so that Ansible
reads its configuration, inventory and playbook while the runner opens the ledger. This callback
stops Ansible at the start of the playbook, before any play or task, until the runner has written the
entry as `running` and creates the file `open` in the directory $BXOPS_RUN_GATE. If the runner
($BXOPS_RUN_GATE_PID) dies first, Ansible exits without running anything. Without $BXOPS_RUN_GATE
(any other use of Ansible) the callback does nothing.

Loaded from the plugin path, not imported as part of bxops: standard library and Ansible only. bxops is
not importable inside ansible-playbook (the checkout is not installed in the virtualenv, nor on Ansible's
path), so the runner's one liveness check, bxops/liveness.py (standard library only), is loaded from its
file next to this package, under a private name.
"""

from __future__ import annotations

import importlib.util
import os
import time
from types import ModuleType
from typing import Any

from ansible.plugins.callback import CallbackBase  # type: ignore[import-untyped]

DOCUMENTATION = """
    name: bxops_run_gate
    type: aggregate
    short_description: Hold a bxops runner's playbook run until the ledger has it
    description:
      - Waits at the start of the playbook until the file C(open) exists in C($BXOPS_RUN_GATE).
      - Exits when the runner (C($BXOPS_RUN_GATE_PID)) is gone; does nothing without C($BXOPS_RUN_GATE).
"""

GATE_ENV = "BXOPS_RUN_GATE"
GATE_PID_ENV = "BXOPS_RUN_GATE_PID"
OPEN_NAME = "open"
#: ansible-playbook's exit status when the runner died before opening the gate (nothing was run).
RUNNER_GONE_EXIT = 70


def _load_liveness() -> ModuleType:
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "liveness.py")
    spec = importlib.util.spec_from_file_location("_bxops_run_gate_liveness", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


liveness = _load_liveness()


def _runner_alive(pid: int) -> bool:
    if os.getppid() == pid:  # ansible-runner spawns ansible-playbook itself: the usual case
        return True
    return bool(liveness.is_alive(pid))


def wait_for_gate(gate: str, runner_pid: int) -> bool:
    """True once the gate is open; False when the runner died before opening it."""
    opened = os.path.join(gate, OPEN_NAME)
    pause = 0.002
    while not os.path.exists(opened):
        if not _runner_alive(runner_pid):
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    return True


class CallbackModule(CallbackBase):  # type: ignore[misc]  # Ansible ships no type hints
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bxops_run_gate"
    CALLBACK_NEEDS_ENABLED = False

    def v2_playbook_on_start(self, playbook: Any) -> None:
        gate = os.environ.get(GATE_ENV)
        if not gate:
            return
        if not wait_for_gate(gate, int(os.environ.get(GATE_PID_ENV) or 0)):
            # Nobody is left to record the run: leave before any task, without a trace on any host.
            os._exit(RUNNER_GONE_EXIT)

# Test-only: molecule's podman driver connects with `ansible_connection: podman`, which resolves to this file
# when ANSIBLE_CONNECTION_PLUGINS names this folder (.config/molecule/config.yml). It is containers.podman's
# connection with pipelining: a module runs as one `podman exec -i` that reads the module from stdin, instead
# of mkdir + copy + exec + rm of a temporary folder (four podman calls; ~150 ms each, more under load). The
# container's file system is mounted only when a file is really copied (copy, template, fetch), not for
# every task. Production hosts use SSH, where pipelining is ansible.cfg's setting.
from __future__ import annotations

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ConnectionBase
from ansible_collections.containers.podman.plugins.connection.podman import Connection as _PodmanConnection

# The options are containers.podman.podman's (GPL-3.0-or-later, as this collection), plus pipelining; the
# loader reads them from this literal, so they are repeated here.
DOCUMENTATION = """
    author: Tomas Tomecek (@TomasTomecek), bxops (pipelining)
    name: podman
    short_description: containers.podman.podman with pipelining (bxops tests only)
    description:
        - Run commands or put/fetch files to an existing container using podman tool.
    options:
      remote_addr:
        description:
          - The ID of the container you want to access.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description:
            - User specified via name or UID which is used to execute commands inside the container. If you
              specify the user via UID, you must set C(ANSIBLE_REMOTE_TMP) to a path that exits
               inside the container and is writable by Ansible.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description:
          - Extra arguments to pass to the podman command line.
        default: ''
        ini:
          - section: defaults
            key: podman_extra_args
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description:
          - Executable for podman command.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
      pipelining:
        description:
          - Run modules through stdin (one podman exec per module).
        type: boolean
        default: true
        env:
          - name: ANSIBLE_PIPELINING
        vars:
          - name: ansible_pipelining
"""


class Connection(_PodmanConnection):
    """containers.podman.podman with pipelining and a lazy mount."""

    transport = "podman"
    has_pipelining = True

    def _connect(self):
        # ConnectionBase's bookkeeping only: the mount waits for the first file copy.
        ConnectionBase._connect(self)
        self._connected = True
        self._mounted = False
        return self

    def _ensure_mount(self) -> None:
        if not getattr(self, "_mounted", False):
            self._mounted = True
            _PodmanConnection._connect(self)

    def exec_command(self, cmd, in_data=None, sudoable=False):
        if not self._connected:
            self._connect()
        ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)
        args = ["exec"]
        if in_data is not None:
            args.append("-i")  # the pipelined module arrives on stdin
        if self.user:
            args.extend(("--user", self.user))
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)

    def put_file(self, in_path, out_path):
        self._ensure_mount()
        return super().put_file(in_path, out_path)

    def fetch_file(self, in_path, out_path):
        self._ensure_mount()
        return super().fetch_file(in_path, out_path)

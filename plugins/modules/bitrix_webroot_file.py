#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_webroot_file
short_description: Create or remove a folder or a small file under a site's docroot without following symlinks
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
description:
  - For files root writes into a folder the site user owns, such as the ACME HTTP-01 challenge
    (C(.well-known/acme-challenge/<token>)). The site user (or any Bitrix administrator, through the PHP
    console) can replace any folder there with a symlink at any moment; C(ansible.builtin.file) and
    C(ansible.builtin.copy) would create, chown and write through it as root (C(.well-known -> /etc) hands
    C(/etc) to the site user).
  - Every path is reached from a descriptor of O(docroot), one component at a time, with C(O_NOFOLLOW) (the
    shared layer C(module_utils/bitrix_docroot)). A symlink or a non-folder anywhere on the way fails the task
    with one line naming it, before anything is changed there; nothing outside the docroot is touched.
  - C(state=directory) creates the missing folders of O(path) (owner, group, mode for the ones it creates;
    existing ones must be real folders and are left as they are). C(state=present) writes O(content) to the
    file (a temporary file in the same folder, then renamed, so a symlink at the file's own name is replaced, never
    followed); its folder must exist. C(state=absent) removes the file (a symlink at that name is removed as a
    link); a folder there is refused.
  - Check mode reports what would change.
options:
  path:
    description:
      - The folder or file, relative to O(docroot) (C(.well-known/acme-challenge/TOKEN)).
      - No C(..), C(.), empty components or control characters.
    type: str
    required: true
  state:
    description: C(directory), C(present) (a file with O(content)) or C(absent).
    type: str
    choices: [directory, present, absent]
    default: present
  content:
    description: The file's content, for C(state=present).
    type: str
  owner:
    description: Owner of what is created (a user name); default root.
    type: str
  group:
    description: Group of what is created (a group name); default the owner's primary group.
    type: str
  mode:
    description: Mode of what is created, an octal string such as C("0644").
    type: str
"""

EXAMPLES = r"""
- name: Create the challenge folders (refused if a symlink is on the way)
  bxops.bitrix.bitrix_webroot_file:
    docroot: /home/bitrix/www
    path: .well-known/acme-challenge
    state: directory
    owner: bitrix
    group: bitrix
    mode: "0755"

- name: Put the HTTP-01 answer
  bxops.bitrix.bitrix_webroot_file:
    docroot: /home/bitrix/www
    path: .well-known/acme-challenge/{{ token }}
    content: "{{ key_authorization }}"
    owner: bitrix
    mode: "0644"
"""

RETURN = r"""
path:
  description: The absolute path acted on (for messages).
  type: str
  returned: always
created:
  description: For C(state=directory), the folders created (relative to the docroot).
  type: list
  elements: str
  returned: when state=directory
"""

import grp
import os
import pwd
import stat
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import (
    DOCROOT_OPTION,
    Anchor,
    UnsafePath,
    clean_rel,
)


def _ids(owner: str | None, group: str | None) -> tuple[int, int]:
    uid = gid = -1
    if owner:
        entry = pwd.getpwnam(owner)
        uid, gid = entry.pw_uid, entry.pw_gid
    if group:
        gid = grp.getgrnam(group).gr_gid
    return uid, gid


def _same_file(anchor: Anchor, rel: str, data: bytes, mode: int, uid: int, gid: int) -> bool:
    """True when ``rel`` is already a regular file with exactly this content, mode and owner."""
    try:
        st = anchor.lstat(rel)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
        return False
    if stat.S_IMODE(st.st_mode) != mode or (uid >= 0 and st.st_uid != uid) or (gid >= 0 and st.st_gid != gid):
        return False
    return bool(anchor.read_bytes(rel, limit=len(data)) == data)


def apply(
    docroot: str,
    path: str,
    state: str,
    content: str | None = None,
    mode: int | None = None,
    uid: int = -1,
    gid: int = -1,
    check: bool = False,
) -> dict[str, Any]:
    """Do what the task asks; raises UnsafePath (one line naming the path) for a symlink on the way."""
    if path.startswith("/"):
        raise UnsafePath(f"path={path}: give it relative to the docroot ({docroot})")
    rel = clean_rel(path, "path")
    with Anchor(docroot) as anchor:
        result: dict[str, Any] = {"changed": False, "path": anchor.abspath(rel)}
        if state == "directory":
            missing = [] if anchor.require_dir(rel, "the folder") else [rel]
            if check:
                result.update(changed=bool(missing), created=missing)
                return result
            created = anchor.makedirs(rel, mode if mode is not None else 0o755, uid, gid)
            result.update(changed=bool(created), created=created)
            return result
        parent = rel.rpartition("/")[0]
        if parent and not anchor.require_dir(parent, "the folder of"):
            raise FileNotFoundError(f"{anchor.abspath(parent)}: no such folder")
        if state == "present":
            data = (content or "").encode("utf-8")
            file_mode = mode if mode is not None else 0o644
            try:
                st = anchor.lstat(rel)
            except FileNotFoundError:
                st = None
            if st is not None and stat.S_ISDIR(st.st_mode):
                raise UnsafePath(f"refusing to write {anchor.abspath(rel)}: it is a folder")
            if _same_file(anchor, rel, data, file_mode, uid, gid):
                return result
            result["changed"] = True
            if not check:
                anchor.write_atomic(rel, data, file_mode, uid, gid)
            return result
        # absent
        try:
            st = anchor.lstat(rel)
        except FileNotFoundError:
            return result
        if stat.S_ISDIR(st.st_mode):
            raise UnsafePath(f"refusing to remove {anchor.abspath(rel)}: it is a folder, not a file")
        result["changed"] = True
        if not check:
            anchor.unlink(rel)
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            docroot=DOCROOT_OPTION,
            path=dict(type="str", required=True),
            state=dict(type="str", choices=["directory", "present", "absent"], default="present"),
            content=dict(type="str"),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="str"),
        ),
        required_if=[("state", "present", ["content"])],
        supports_check_mode=True,
    )
    p = module.params
    try:
        mode = int(p["mode"], 8) if p["mode"] else None
    except ValueError:
        module.fail_json(msg=f"mode must be an octal string such as '0644', got {p['mode']!r}")
    try:
        uid, gid = _ids(p["owner"], p["group"])
    except KeyError as exc:
        module.fail_json(msg=f"unknown owner or group: {exc}")
    try:
        result = apply(p["docroot"], p["path"], p["state"], p["content"], mode, uid, gid, module.check_mode)
    except UnsafePath as exc:
        module.fail_json(msg=str(exc), path=os.path.join(p["docroot"], p["path"]))
    except OSError as exc:
        module.fail_json(msg=f"{os.path.join(p['docroot'], p['path'])}: {exc.strerror or exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()

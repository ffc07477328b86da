#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_site_info
short_description: Read what a 1C-Bitrix site says about itself
description:
  - Confirms that O(docroot) holds a Bitrix core and returns its version, every module's version
    (C(local/modules) winning over C(bitrix/modules)), the file and folder modes from C(dbconn.php)
    and the DB connection (without the password).
  - Read-only; safe in check mode.
options:
  docroot:
    description: The site's document root.
    type: path
    required: true
  read_db:
    description:
      - Also read the DB connection (host, database, user; never the password) from O(db_credentials), else
        C(.settings.php), else the legacy C($DB*) variables of C(dbconn.php) (cores before 20.900).
    type: bool
    default: true
  db_credentials:
    description:
      - DB credentials given through the vault (host, database, user, password); non-empty values win over
        the site's own.
    type: dict
    default: {}
author: bxops maintainers
"""

EXAMPLES = r"""
- name: Read the site
  bxops.bitrix.bitrix_site_info:
    docroot: /home/bitrix/www
  register: __audit_site
"""

RETURN = r"""
core:
  description: Core ("main") version and date.
  type: dict
  returned: success
  sample: {"version": "23.900.550", "date": "2024-02-01 10:00:00"}
modules:
  description: Module id to version, date, path, location (bitrix or local) and marketplace flag.
  type: dict
  returned: success
file_mode:
  description: File mode the site asks for (BX_FILE_PERMISSIONS, default 0644), as an octal string.
  type: str
  returned: success
dir_mode:
  description: Folder mode the site asks for (BX_DIR_PERMISSIONS, default 0755), as an octal string.
  type: str
  returned: success
db:
  description: DB host, database and user from .settings.php (no password).
  type: dict
  returned: when read_db
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    NotABitrixSite,
    db_credentials,
    find_modules,
    permission_defaults,
    read_core_version,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            docroot=dict(type="path", required=True),
            read_db=dict(type="bool", default=True),
            db_credentials=dict(type="dict", default={}, no_log=True),
        ),
        supports_check_mode=True,
    )
    docroot = module.params["docroot"]
    try:
        core = read_core_version(docroot)
    except NotABitrixSite as exc:
        module.fail_json(msg=str(exc))
    file_mode, dir_mode = permission_defaults(docroot)
    result = dict(
        changed=False,
        docroot=docroot,
        core=core,
        modules=find_modules(docroot),
        file_mode="%04o" % file_mode,
        dir_mode="%04o" % dir_mode,
    )
    if module.params["read_db"]:
        try:
            result["db"] = db_credentials(docroot, module.params["db_credentials"]).masked()
        except (RuntimeError, ValueError) as exc:
            module.fail_json(msg="cannot read the DB connection: %s (or give it through the vault: "
                                 "bitrix_db_name, bitrix_db_user, bitrix_db_password)" % exc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

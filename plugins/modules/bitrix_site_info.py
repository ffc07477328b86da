#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_site_info
short_description: Read what a 1C-Bitrix site says about itself
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
  - bxops.bitrix.bitrix_db
description:
  - Confirms that O(docroot) holds a Bitrix core and returns its version, every module's version
    (C(local/modules) winning over C(bitrix/modules)), the file and folder modes from C(dbconn.php),
    the DB connection (without the password) and the upload folder (option C(main.upload_dir)).
  - The site is untrusted. Its PHP files (C(.settings.php), C(dbconn.php), C(version.php)) are parsed as
    data and never executed; they are read without following symlinks. A setting that is PHP code rather
    than a literal is reported in RV(settings_unparsed); when it is the DB connection the module fails
    asking for the credentials in the vault.
  - Read-only; safe in check mode.
options:
  read_db:
    description:
      - Also read the DB connection (host, database, user; never the password) from O(db), else
        C(.settings.php), else the legacy C($DB*) variables of C(dbconn.php) (cores before 20.900).
      - And read option C(main.upload_dir) from the DB through the C(mysql) client into RV(upload_dir).
    type: bool
    default: true
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
upload_dir:
  description:
    - The upload folder relative to the docroot, from option C(main.upload_dir) (C(upload) when unset),
      checked as a path from an untrusted site (no C(..), no empty components, no control characters).
    - null when it could not be read or was refused; RV(upload_dir_error) then says why.
  type: str
  returned: when read_db
  sample: upload
upload_dir_error:
  description: Why RV(upload_dir) is null (the DB could not be queried, or the site's value was refused).
  type: str
  returned: when read_db and upload_dir is null
settings_unparsed:
  description: Keys of the kernel settings whose values are PHP code (never run), dotted (C(?) for a key that is code).
  type: list
  elements: str
  returned: success
modules_refused:
  description: Module folders or version files that are symlinks (not followed), one line each.
  type: list
  elements: str
  returned: success
web_stack:
  description: What serves the docroot, read from nginx and Apache configuration only (module_utils/bitrix_webstack);
    C(kind) (C(nginx+apache_mod_php), C(nginx+php_fpm), C(apache_mod_php), C(nginx), C(unknown)), C(php)
    (C(version), C(sapi), C(module) or C(pool_file), C(service)), C(front), C(apache) (C(run_user), C(mpm),
    C(php_modules_enabled), C(php_modules_installed), C(vhost)) and C(fpm).
  type: dict
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import DB_OPTION
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import DOCROOT_OPTION
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    MysqlClient,
    NotABitrixSite,
    SiteConfigError,
    db_credentials,
    find_modules,
    load_settings,
    permission_defaults,
    read_core_version,
    upload_dir,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_webstack import detect as detect_web_stack


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            docroot=DOCROOT_OPTION,
            read_db=dict(type="bool", default=True),
            db=DB_OPTION,
        ),
        supports_check_mode=True,
    )
    docroot = module.params["docroot"]
    try:
        core = read_core_version(docroot)
        file_mode, dir_mode = permission_defaults(docroot)
        refused: list[str] = []
        modules = find_modules(docroot, refused)
        unparsed = load_settings(docroot).unparsed
    except (NotABitrixSite, SiteConfigError) as exc:
        module.fail_json(msg=str(exc))
    result = dict(
        changed=False,
        docroot=docroot,
        core=core,
        modules=modules,
        modules_refused=refused,
        file_mode="%04o" % file_mode,
        dir_mode="%04o" % dir_mode,
        settings_unparsed=unparsed,
        web_stack=detect_web_stack(docroot),
    )
    if module.params["read_db"]:
        try:
            creds = db_credentials(docroot, module.params["db"])
        except (RuntimeError, ValueError) as exc:
            module.fail_json(msg="cannot read the DB connection: %s (or give it through the vault: "
                                 "bitrix_db_name, bitrix_db_user, bitrix_db_password)" % exc)
        result["db"] = creds.masked()
        try:
            with MysqlClient(creds) as client:
                result["upload_dir"] = upload_dir(client)
        except (RuntimeError, OSError) as exc:
            # roles that need the folder (permissions, cleanup) refuse with this message
            result["upload_dir"] = None
            result["upload_dir_error"] = "cannot read option main.upload_dir: %s" % exc
            module.warn(result["upload_dir_error"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()

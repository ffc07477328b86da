#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_site_stopped
short_description: Close or open the public part of a 1C-Bitrix site (main site_stopped)
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
  - bxops.bitrix.bitrix_db
description:
  - Sets the public-part switch (C(b_option) main C(site_stopped)) as the site's admin page does, and clears
    the managed cache of C(b_option) (through the docroot-anchored file layer) so the site sees the new value.
  - While closed, visitors get the site's maintenance page; administrators still reach the site.
  - Idempotent (changes nothing when the switch already has the wanted value; a missing row counts as open);
    supports check mode.
options:
  state:
    description: V(stopped) closes the public part (C(site_stopped=Y)), V(open) opens it (C(N)).
    type: str
    choices: [stopped, open]
    required: true
"""

EXAMPLES = r"""
- name: Open the public part again
  bxops.bitrix.bitrix_site_stopped:
    docroot: /home/bitrix/www
    state: open
    db: "{{ update_db_credentials }}"
"""

RETURN = r"""
previous:
  description: main C(site_stopped) before the call (C(Y) or C(N)).
  type: str
  returned: always
site_stopped:
  description: main C(site_stopped) after the call (C(Y) or C(N)).
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import DB_OPTION, MysqlClient
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import DOCROOT_OPTION, UnsafePath
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_site import (
    NotABitrixSite,
    db_credentials,
    require_site,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_update_console import (
    read_site_stopped,
    write_site_stopped,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["stopped", "open"]),
            docroot=DOCROOT_OPTION,
            db=DB_OPTION,
        ),
        supports_check_mode=True,
    )
    docroot = module.params["docroot"]
    wanted = "Y" if module.params["state"] == "stopped" else "N"
    try:
        require_site(docroot)
    except NotABitrixSite as exc:
        module.fail_json(msg=f"{exc} (bitrix_docroot)")
    try:
        creds = db_credentials(docroot, module.params["db"])
    except (RuntimeError, ValueError) as exc:
        module.fail_json(msg=f"no DB credentials (the db option from the vault, or .settings.php): {exc}")
    with MysqlClient(creds) as client:
        try:
            exists, previous = read_site_stopped(client)
            if previous != wanted and not module.check_mode:
                write_site_stopped(client, docroot, wanted, exists)
        except (RuntimeError, OSError, UnsafePath) as exc:
            module.fail_json(msg=f"cannot set main site_stopped={wanted}: {exc}")
    module.exit_json(changed=previous != wanted, previous=previous, site_stopped=wanted)


if __name__ == "__main__":
    main()

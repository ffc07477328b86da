# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The `db` option every module that reads a site's database takes (module_utils/bitrix_db.DB_OPTION)."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  db:
    description:
      - The site's DB credentials from the vault, one dict for every module (roles pass
        C(bxops_site_db_credentials), built from C(bitrix_db_host), C(bitrix_db_name), C(bitrix_db_user),
        C(bitrix_db_password)).
      - Non-empty values win over the site's own C(bitrix/.settings.php) (C(connections.default)), else the
        legacy C($DB*) variables of C(dbconn.php) (cores before 20.900); empty values are read from there.
      - Values with control characters are refused; the password is never returned or logged.
    type: dict
    default: {}
    suboptions:
      host:
        description: DB host (C(host), C(host:port) or a socket path).
        type: str
        default: ""
      database:
        description: DB name.
        type: str
        default: ""
      user:
        description: DB user.
        type: str
        default: ""
      password:
        description: DB password.
        type: str
        default: ""
"""

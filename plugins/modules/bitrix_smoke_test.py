#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_smoke_test
short_description: Check that a site's pages answer through the web server on the host
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_smoke
description:
  - Requests each of O(urls) through the web server on the host (O(base_url)) with the site's Host header,
    and checks its status, its marker, that it shows no PHP or DB error and, with O(php_version), that it is
    served by that PHP (its C(X-Powered-By) header, when the page sends one).
  - Each URL gets a result with a reason in plain words; the module fails naming each failed URL and why.
  - With O(retry_for), failing URLs are asked again every 3 seconds for up to that many seconds (a site
    coming back after a restore or a reload).
  - The smoke test of the collection (the update role's, php_upgrade's, the backup's restore check), shared
    with the audit's home page (C(module_utils/bitrix_smoke)). The update role adds C(bitrix_updates_info)'s
    checks (new PHP fatal errors, versions reached, agents).
  - Read-only; runs in check mode too.
options:
  retry_for:
    description: Seconds to keep asking failing URLs again; 0 asks once.
    type: int
    default: 0
  php_version:
    description: When set (C(X.Y)), a page whose C(X-Powered-By) names another PHP fails.
    type: str
"""

EXAMPLES = r"""
- name: Smoke test the site under PHP 8.2
  bxops.bitrix.bitrix_smoke_test:
    urls:
      - {path: /, status: 200, marker: "</html>"}
      - {path: /catalog/, status: 200}
    host_header: shop.example.com
    php_version: "8.2"
  register: __php_upgrade_smoke_pages
  failed_when: false

- name: Wait until the restored site serves
  bxops.bitrix.bitrix_smoke_test:
    urls: [{path: "", status: [200, 302]}]
    base_url: http://127.0.0.1/
    retry_for: 30
    timeout: 10
"""

RETURN = r"""
results:
  description: One result per URL, in order, with path, url, ok, status (null when nothing answered), reason,
    response_ms, bytes and x_powered_by.
  type: list
  elements: dict
  returned: always
  sample: [{"path": "/", "url": "http://127.0.0.1/", "ok": false, "status": 500,
            "reason": "status 500, expected 200", "response_ms": 12.5, "bytes": 312, "x_powered_by": "PHP/8.2.7"}]
failures:
  description: "C(<path>: <reason>) for each URL that failed."
  type: list
  elements: str
  returned: always
passed:
  description: Whether every URL passed.
  type: bool
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_smoke import (
    SMOKE_OPTIONS,
    check_all,
    failures,
    specs_problem,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            SMOKE_OPTIONS,
            retry_for=dict(type="int", default=0),
            php_version=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    problem = specs_problem(p["urls"])
    if not p["urls"]:
        problem = "urls must name at least one URL"
    if problem:
        module.fail_json(msg=problem)
    results = check_all(p["base_url"], p["host_header"], p["urls"], timeout=p["timeout"],
                        php_version=p["php_version"], retry_for=max(0, p["retry_for"]))
    failed = failures(results)
    if failed:
        module.fail_json(msg="smoke test failed: " + "; ".join(failed), results=results, failures=failed,
                         passed=False)
    module.exit_json(changed=False, results=results, failures=[], passed=True)


if __name__ == "__main__":
    main()

# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smoke-test options (module_utils/bitrix_smoke.SMOKE_OPTIONS) of bitrix_smoke_test."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  urls:
    description:
      - The smoke URLs, each requested through the web server on the host with the site's Host header,
        redirects not followed. A URL fails on another status, a missing marker, or a page that shows a PHP
        or DB error.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Appended to O(base_url) (starts with C(/)); empty requests O(base_url) itself.
        type: str
        default: /
      status:
        description: The expected HTTP status, or a list of statuses that count as serving.
        type: raw
        default: 200
      marker:
        description: Text the page must contain (empty checks none).
        type: str
        default: ""
  base_url:
    description: Where the web server answers on the host.
    type: str
    default: http://127.0.0.1
  host_header:
    description: Host header for the smoke requests (the site's domain); empty sends none.
    type: str
    default: ""
  timeout:
    description: Seconds to wait for each answer.
    type: int
    default: 30
"""

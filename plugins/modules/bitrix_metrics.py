#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_metrics
short_description: Collect a 1C-Bitrix site's metrics as node_exporter textfile metrics
description:
  - Runs the collector of C(module_utils/bitrix_metrics) once for each site of O(sites), the same code the
    C(monitoring_agent) role's systemd timer runs on the host, and returns what it wrote.
  - Part C(site) reads the site's database (overdue agents in C(b_agent), unsent mail events in C(b_event),
    the 1C exchange records of C(sale) in C(b_option), DB size), sizes of the upload folder and of every
    disposable folder (by lstat through the anchored walk, never through a symlink), whether the composite
    cache is on, the served certificate per domain and the cached updates listing.
  - Part C(backups) reads the newest complete backup of the docroot from the backup role's records.
  - Each part and site is written as C(<textfile_dir>/bitrix-<part>-<site>.prom), atomically. Values are
    measurements, so rewriting an existing file is not a change; a new file is. In check mode nothing is written.
options:
  sites:
    description:
      - The sites, each C({name, docroot, domains, db, tls_port, updates_listing}); C(name) is the C(site) label.
      - C(db) is the C(db) dict {host, database, user, password}; empty values come from the site's settings.
    type: list
    elements: dict
    required: true
  textfile_dir:
    description: node_exporter's textfile collector folder.
    type: path
    required: true
  backup_dir:
    description: The backup role's folder of backups (C(<bxops_state_dir>/backups)).
    type: path
    default: /var/lib/bxops/backups
  parts:
    description: Which parts to run.
    type: list
    elements: str
    choices: [site, backups]
    default: [site, backups]
author: bxops maintainers
"""

EXAMPLES = r"""
- name: Collect the site's metrics once
  bxops.bitrix.bitrix_metrics:
    sites:
      - name: shop
        docroot: /home/bitrix/www
        domains: [www.example.com]
        db: {host: "", database: sitemanager, user: bitrix0, password: "{{ vault_db_password }}"}
    textfile_dir: /var/lib/bxops-metrics/textfile
  no_log: true
"""

RETURN = r"""
sites:
  description: Per site and part, the file written, the values and the checks that failed.
  type: dict
  returned: always
  sample: {"shop": {"site": {"file": "/var/lib/bxops-metrics/textfile/bitrix-site-shop.prom",
           "values": {"bitrix_agents_overdue": 0}, "errors": []}}}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_metrics as metrics


def values_of(text: str) -> dict[str, float]:
    """Sample lines as {'name{labels}' or 'name': value} (labels kept only when there are several)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        name, _, labels = key.partition("{")
        labels = labels.rstrip("}")
        extra = ",".join(part for part in labels.split(",") if part and not part.startswith("site="))
        out[f"{name}{{{extra}}}" if extra else name] = float(value)
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            sites=dict(type="list", elements="dict", required=True),
            textfile_dir=dict(type="path", required=True),
            backup_dir=dict(type="path", default="/var/lib/bxops/backups"),
            parts=dict(type="list", elements="str", choices=list(metrics.PARTS), default=list(metrics.PARTS)),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        sites = [metrics.site_config(raw, f"sites[{i}]") for i, raw in enumerate(p["sites"])]
    except metrics.ConfigError as exc:
        module.fail_json(msg=str(exc))
    if not os.path.isdir(p["textfile_dir"]) and not module.check_mode:
        module.fail_json(msg=f"textfile_dir {p['textfile_dir']} is not a folder")
    config = {"textfile_dir": p["textfile_dir"], "backup_dir": p["backup_dir"], "sites": sites}
    out: dict[str, dict] = {site.name: {} for site in sites}
    changed = False
    for part in p["parts"]:
        existed = [os.path.exists(os.path.join(p["textfile_dir"], f"bitrix-{part}-{site.name}.prom")) for site in sites]
        changed = changed or not all(existed)  # in check mode: a file that would be created
        done = metrics.run_part(config, part, write=not module.check_mode)
        for name, info in done.items():
            out[name][part] = {"file": info["file"], "values": values_of(info["text"]), "errors": info["errors"]}
    module.exit_json(changed=changed, sites=out)


if __name__ == "__main__":
    main()

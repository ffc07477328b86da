# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options naming the site, documented once: `docroot` (every module working on a site) and
`upload_dir` (the modules that walk the uploads: cleanup, orphans)."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  docroot:
    description:
      - The site's document root (the role variable C(bitrix_docroot)), which holds a 1C-Bitrix core.
      - The engineer's setting, resolved once; everything below it belongs to the site and is reached from a
        descriptor of this folder without following symlinks (C(module_utils/bitrix_docroot)).
    type: path
    required: true
"""

    UPLOAD_DIR = r"""
options:
  upload_dir:
    description:
      - The upload folder relative to the docroot.
      - Empty reads option C(main.upload_dir) (default C(upload)).
      - A site value, so it must be a plain relative path inside the docroot leading to a real folder (a
        symlinked upload root is refused, naming it).
    type: str
    default: ""
"""

#!/usr/bin/env bash
# Lint is part of the tests: yamllint, ansible-lint (production profile), ruff, mypy, vermin (the code that
# runs on managed hosts, modules and module_utils, needs nothing newer than Python 3.9) and the offline part
# of ansible-test sanity on the built collection (scripts/sanity.sh); the roles' argument specs, defaults/main.yml
# and README variable tables must agree (scripts/role_docs.py --check).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export ANSIBLE_COLLECTIONS_PATH="$PWD/.collections"
yamllint -s .
python3 scripts/role_docs.py --check
ansible-lint -q --profile production
ruff check .
mypy
vermin -q --no-tips --target=3.9- --violations --no-make-paths-absolute plugins/modules plugins/module_utils
scripts/sanity.sh

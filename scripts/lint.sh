#!/usr/bin/env bash
# Lint is part of the tests: yamllint, ansible-lint (production profile), ruff, mypy, and vermin:
# the code that runs on managed hosts (modules, module_utils) needs nothing newer than Python 3.9.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export ANSIBLE_COLLECTIONS_PATH="$PWD/.collections"
yamllint -s .
ansible-lint -q --profile production
ruff check .
mypy
vermin -q --no-tips --target=3.9- --violations --no-make-paths-absolute plugins/modules plugins/module_utils

#!/usr/bin/env bash
# Lint is part of the tests: yamllint, ansible-lint (production profile), ruff, mypy.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export ANSIBLE_COLLECTIONS_PATH="$PWD/.collections"
yamllint -s .
ansible-lint -q --profile production
ruff check .
mypy

#!/usr/bin/env bash
# ansible-test sanity on the collection as ansible-galaxy builds it (what users install), with the tests
# that need nothing downloaded: the others (validate-modules, pylint, pep8, yamllint, import,
# runtime-metadata, ansible-doc, changelog) make a virtualenv of their own and pip-install pinned
# requirements into it. ansible-doc is covered by tests/test_module_docs.py, yamllint by scripts/lint.sh.
# compile runs on 3.11 and, when a Python 3.9 is found (python3.9 on PATH, pyenv, or
# $BXOPS_HOST_PYTHON), on the managed hosts' minimum too. Ignores: tests/sanity/ignore-2.19.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/bxops/bitrix
mkdir -p "$dest/tests"
ansible-galaxy collection build --output-path "$work" "$root" >/dev/null
tar -xzf "$work"/bxops-bitrix-*.tar.gz -C "$dest"
cp -r "$root/tests/sanity" "$dest/tests/"
cd "$dest"
tests=(action-plugin-docs compile empty-init ignores line-endings no-assert no-get-exception
       no-illegal-filenames no-smart-quotes replace-urlopen shebang symlinks use-argspec-type-path use-compat-six)
ansible-test sanity --local --color no --python 3.11 "${tests[@]/#/--test=}"

py39=${BXOPS_HOST_PYTHON:-$(command -v python3.9 || true)}
if ! "${py39:-false}" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 9))' 2>/dev/null; then
  py39=$(ls -d "$HOME"/.pyenv/versions/3.9.*/bin/python3.9 2>/dev/null | sort -V | tail -1 || true)
fi
if [ -n "$py39" ] && "$py39" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 9))' 2>/dev/null; then
  # ansible-test finds the interpreter as python3.9 on PATH.
  mkdir -p "$work/bin" && ln -s "$py39" "$work/bin/python3.9"
  PATH=$work/bin:$PATH ansible-test sanity --local --color no --python 3.9 --test compile
else
  echo "sanity: no Python 3.9 here; compile checked on 3.11 only (tests/test_host_python.py parses as 3.9)" >&2
fi

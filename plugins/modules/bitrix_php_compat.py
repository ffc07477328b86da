#!/usr/bin/python
# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bitrix_php_compat
short_description: Check a Bitrix site's own code against a target PHP version before switching to it
author: bxops maintainers
extends_documentation_fragment:
  - bxops.bitrix.bitrix_site
description:
  - Lints every PHP file of the site's own code with the B(target) PHP binary (C(php -l)) and scans it with
    PHP's own tokenizer (run by that same binary) for functions and settings the target removed
    (C(each), C(create_function), C(money_format), C(__autoload), C(get_magic_quotes_*),
    C(mbstring.func_overload), C(mb_orig_*) written for C(func_overload), PHP-4 style constructors, …)
    and for unconditional global functions that collide with functions the target added (C(str_contains),
    C(array_find), …). Comments and strings are never mistaken for calls.
  - The site's own code is C(local/), C(bitrix/php_interface/), C(bitrix/templates/),
    C(bitrix/components/<vendor>/) for every vendor but C(bitrix), dotted (Marketplace) modules under
    C(bitrix/modules/), plus O(extra_paths); C(.user.ini) files there and in the docroot are checked for
    removed settings.
  - When the target is not installed, its CLI is unpacked from the package source's C(.deb) files
    (apt's cache, else C(apt-get download)) into a temporary folder that is removed afterwards; nothing
    is installed and nothing outside that folder changes.
  - Read-only; safe in check mode.
options:
  target:
    description: Target PHP version, C(X.Y).
    type: str
    required: true
  current:
    description:
      - The site's current PHP version C(X.Y); only removals after it are reported (code calling functions
        that the current version already lacks is not this upgrade's concern).
    type: str
    required: true
  php:
    description:
      - Path of the target PHP CLI; default C(/usr/bin/php<target>), unpacked from the packages when absent.
    type: path
  short_open_tag:
    description: Lint with C(short_open_tag) on, as the site will run (BitrixVM's setting).
    type: bool
    default: true
  extra_paths:
    description: More folders (relative to the docroot) to treat as the site's own code.
    type: list
    elements: str
    default: []
  workers:
    description: Parallel C(php -l) processes.
    type: int
    default: 2
  max_findings:
    description: At most this many findings are returned (the total is always counted).
    type: int
    default: 200
  site_user:
    description:
      - The site's user. When the module runs as root, C(php -l) and the token scan run as this user with
        its own group only and no supplementary groups, so the site's files are read with the site's rights.
    type: str
    default: bitrix
"""

EXAMPLES = r"""
- name: Check the site's code against PHP 8.2
  bxops.bitrix.bitrix_php_compat:
    docroot: /home/bitrix/www
    target: "8.2"
    current: "7.4"
  register: __php_upgrade_compat
"""

RETURN = r"""
files_scanned:
  description: PHP files linted and scanned.
  type: int
  returned: success
findings:
  description:
    - Problems found, each with file (relative to the docroot), line, what, why and kind
      (lint, call, declare, collide, setting, ini, constructor).
  type: list
  elements: dict
  returned: success
  sample: [{"file": "local/php_interface/init.php", "line": 12, "kind": "call", "what": "each()",
            "why": "each() was removed in PHP 8.0: use foreach"}]
findings_total:
  description: Number of findings, including any beyond max_findings.
  type: int
  returned: success
polyfilled:
  description: Removed functions the site's own code declares itself (calls to them are not findings).
  type: list
  elements: str
  returned: success
php:
  description: The binary used and its version; probe is true when it was unpacked from the packages.
  type: dict
  returned: success
  sample: {"binary": "/usr/bin/php8.2", "version": "8.2.36", "probe": false}
"""

import glob
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import (
    DOCROOT_OPTION,
    Anchor,
    UnsafePath,
    clean_rel,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_process import (
    NoSuchUser,
    as_site_user,
    site_user,
    site_user_env,
)

# name -> (removed in, advice). Versions are X.Y strings compared numerically.
REMOVED_FUNCTIONS: dict[str, tuple[str, str]] = {
    "each": ("8.0", "use foreach"),
    "create_function": ("8.0", "use an anonymous function"),
    "money_format": ("8.0", "use NumberFormatter or number_format()"),
    "__autoload": ("8.0", "use spl_autoload_register()"),
    "get_magic_quotes_gpc": ("8.0", "magic quotes are gone: drop the call (it always returned false)"),
    "get_magic_quotes_runtime": ("8.0", "magic quotes are gone: drop the call (it always returned false)"),
    "convert_cyr_string": ("8.0", "use mb_convert_encoding() or iconv()"),
    "hebrevc": ("8.0", "use nl2br(hebrev())"),
    "restore_include_path": ("8.0", "use ini_restore('include_path')"),
    "ezmlm_hash": ("8.0", "no replacement"),
    "fgetss": ("8.0", "use fgets() with strip_tags()"),
    "gzgetss": ("8.0", "use gzgets() with strip_tags()"),
    "image2wbmp": ("8.0", "use imagewbmp()"),
    "jpeg2wbmp": ("8.0", "use imagecreatefromjpeg() and imagewbmp()"),
    "png2wbmp": ("8.0", "use imagecreatefrompng() and imagewbmp()"),
    "read_exif_data": ("8.0", "use exif_read_data()"),
    "is_real": ("8.0", "use is_float()"),
    "ldap_sort": ("8.0", "sort the entries in PHP"),
    "mbregex_encoding": ("8.0", "use mb_regex_encoding()"),
    "mbereg": ("8.0", "use mb_ereg()"),
    "mberegi": ("8.0", "use mb_eregi()"),
    "mbereg_replace": ("8.0", "use mb_ereg_replace()"),
    "mberegi_replace": ("8.0", "use mb_eregi_replace()"),
    "mbsplit": ("8.0", "use mb_split()"),
    "mbereg_match": ("8.0", "use mb_ereg_match()"),
    "mbereg_search": ("8.0", "use mb_ereg_search()"),
    "mysql_connect": ("7.0", "use mysqli or the Bitrix D7 connection"),
    "mysql_query": ("7.0", "use mysqli or the Bitrix D7 connection"),
    "mysql_fetch_array": ("7.0", "use mysqli or the Bitrix D7 connection"),
    "mysql_fetch_assoc": ("7.0", "use mysqli or the Bitrix D7 connection"),
    "mysql_real_escape_string": ("7.0", "use mysqli or $DB->ForSql()"),
    "ereg": ("7.0", "use preg_match()"),
    "eregi": ("7.0", "use preg_match() with /i"),
    "ereg_replace": ("7.0", "use preg_replace()"),
    "eregi_replace": ("7.0", "use preg_replace() with /i"),
    "split": ("7.0", "use explode() or preg_split()"),
    "call_user_method": ("7.0", "use call_user_func()"),
}
# Written for mbstring.func_overload: PHP provided mb_orig_<name> only while overloading, gone with it in 8.0.
REMOVED_PREFIXES: dict[str, tuple[str, str]] = {
    "mb_orig_": ("8.0", "exists only with mbstring.func_overload, removed in PHP 8.0: "
                         "use the plain function"),
}
# Functions a version added: an unconditional global declaration of the same name is a fatal redeclaration.
ADDED_FUNCTIONS: dict[str, str] = {
    "str_contains": "8.0", "str_starts_with": "8.0", "str_ends_with": "8.0", "fdiv": "8.0",
    "get_debug_type": "8.0", "get_resource_id": "8.0", "array_is_list": "8.1", "enum_exists": "8.1",
    "fsync": "8.1", "fdatasync": "8.1", "array_find": "8.4", "array_find_key": "8.4", "array_any": "8.4",
    "array_all": "8.4", "mb_trim": "8.4", "mb_ltrim": "8.4", "mb_rtrim": "8.4", "mb_ucfirst": "8.4",
    "mb_lcfirst": "8.4", "bcround": "8.4", "bcfloor": "8.4", "bcceil": "8.4", "bcdivmod": "8.4",
    "fpow": "8.4", "array_first": "8.5", "array_last": "8.5",
}
REMOVED_SETTINGS: dict[str, tuple[str, str]] = {
    "mbstring.func_overload": ("8.0", "removed in PHP 8.0; Bitrix requires 0 and code relying on it changes "
                                      "behaviour silently"),
    "track_errors": ("8.0", "removed in PHP 8.0: use error_get_last()"),
    "assert.quiet_eval": ("8.0", "removed in PHP 8.0"),
    "magic_quotes_gpc": ("5.4", "removed in PHP 5.4"),
    "safe_mode": ("5.4", "removed in PHP 5.4"),
}

# Runs under the target PHP with its tokenizer: prints "file TAB line TAB kind TAB name" per hit.
TOKEN_SCANNER = r"""<?php
$c = function ($n) { return defined($n) ? constant($n) : -1000; };
$T_FQ = $c('T_NAME_FULLY_QUALIFIED'); $T_QUAL = $c('T_NAME_QUALIFIED');
$T_NULLSAFE = $c('T_NULLSAFE_OBJECT_OPERATOR');
$funcs = array_flip(array_filter(explode(',', $argv[2])));
$added = array_flip(array_filter(explode(',', $argv[3])));
$settings = array_flip(array_filter(explode(',', $argv[4])));
$prefixes = array_filter(explode(',', $argv[5]));
$skip = array(T_WHITESPACE => 1, T_COMMENT => 1, T_DOC_COMMENT => 1);
$notCall = array(T_OBJECT_OPERATOR => 1, T_DOUBLE_COLON => 1, T_FUNCTION => 1, T_NEW => 1, T_CONST => 1,
                 $T_NULLSAFE => 1);
$out = fopen('php://stdout', 'w');
foreach (file($argv[1], FILE_IGNORE_NEW_LINES) as $file) {
    $code = @file_get_contents($file);
    if ($code === false) { fwrite($out, "$file\t0\tunreadable\t-\n"); continue; }
    $sig = array();
    foreach (token_get_all($code) as $t) {
        if (is_array($t) && isset($skip[$t[0]])) { continue; }
        $sig[] = $t;
    }
    $n = count($sig); $depth = 0; $ns = false; $line = 1; $pending = null; $classes = array();
    for ($i = 0; $i < $n; $i++) {
        $t = $sig[$i];
        if (is_array($t)) { $id = $t[0]; $text = $t[1]; $line = $t[2]; } else { $id = null; $text = $t; }
        $prev = $i > 0 ? $sig[$i - 1] : null; $prevId = is_array($prev) ? $prev[0] : $prev;
        $next = $i + 1 < $n ? $sig[$i + 1] : null; $nextText = is_array($next) ? $next[1] : $next;
        $nextId = is_array($next) ? $next[0] : null;
        if ($text === '{' || $id === T_CURLY_OPEN || $id === T_DOLLAR_OPEN_CURLY_BRACES) {
            $depth++;
            if ($pending !== null) { $pending['depth'] = $depth; $classes[] = $pending; $pending = null; }
            continue;
        }
        if ($text === '}') {
            $depth--;
            while ($classes && $classes[count($classes) - 1]['depth'] > $depth) {
                $cl = array_pop($classes);
                if (!$cl['ns'] && !$cl['construct'] && $cl['ctor']) {
                    fwrite($out, "$file\t{$cl['ctor']}\tconstructor\t{$cl['name']}\n");
                }
            }
            continue;
        }
        if ($id === T_NAMESPACE && ($nextId === T_STRING || $nextId === $T_QUAL || $nextText === '{')) {
            $ns = $nextText !== '{';
            continue;
        }
        if ($id === T_CLASS && $prevId !== T_DOUBLE_COLON && $prevId !== T_NEW && $nextId === T_STRING) {
            $pending = array('name' => $nextText, 'ns' => $ns, 'construct' => false, 'ctor' => 0,
                             'depth' => 0);
            $i++;
            continue;
        }
        if ($id === T_FUNCTION) {
            $j = $i + 1;
            if ($j < $n && $sig[$j] === '&') { $j++; }
            if ($j < $n && is_array($sig[$j]) && $sig[$j][0] === T_STRING) {
                $name = strtolower($sig[$j][1]);
                $top = $classes ? $classes[count($classes) - 1] : null;
                if ($top !== null && $top['depth'] === $depth) {
                    if ($name === '__construct') { $classes[count($classes) - 1]['construct'] = true; }
                    elseif ($name === strtolower($top['name'])) {
                        $classes[count($classes) - 1]['ctor'] = $sig[$j][2];
                    }
                } elseif (!$ns) {
                    if (isset($funcs[$name])) { fwrite($out, "$file\t{$sig[$j][2]}\tdeclare\t$name\n"); }
                    if (isset($added[$name]) && $depth === 0) {
                        fwrite($out, "$file\t{$sig[$j][2]}\tcollide\t$name\n");
                    }
                }
                $i = $j;
            }
            continue;
        }
        if (($id === T_STRING || $id === $T_FQ) && $nextText === '(' && !isset($notCall[$prevId])) {
            $name = strtolower(ltrim($text, '\\'));
            if (isset($funcs[$name])) { fwrite($out, "$file\t$line\tcall\t$name\n"); continue; }
            foreach ($prefixes as $p) {
                if (strncmp($name, $p, strlen($p)) === 0) {
                    fwrite($out, "$file\t$line\tcall\t$name\n");
                    break;
                }
            }
            continue;
        }
        if ($id === T_CONSTANT_ENCAPSED_STRING) {
            $value = strtolower(substr($text, 1, -1));
            if (isset($settings[$value])) { fwrite($out, "$file\t$line\tsetting\t$value\n"); }
        }
    }
}
"""

_LINT_RE = re.compile(r"(?:PHP )?((?:Parse|Fatal) error|Deprecated|Warning):\s*(.*?) in (.*) on line (\d+)")
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")
_INI_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*=\s*(.*?)\s*$")


def vtuple(version: str) -> tuple[int, int]:
    match = _VERSION_RE.match(version.strip())
    if not match:
        raise ValueError(f"not an X.Y version: {version!r}")
    return int(match.group(1)), int(match.group(2))


def relevant(removed_in: str, current: str, target: str) -> bool:
    """A removal matters when it happened after the current version, up to the target."""
    return vtuple(current) < vtuple(removed_in) <= vtuple(target)


def own_code_roots(docroot: str | Anchor, extra: list[str]) -> list[str]:
    """Folders holding the site's own code (see the domain brief, section 5).

    Reached without following symlinks: a root that is a symlink is refused (UnsafePath names it).
    """
    anchor = docroot if isinstance(docroot, Anchor) else Anchor(docroot)
    try:
        roots = ["local", "bitrix/php_interface", "bitrix/templates"]
        if anchor.require_dir("bitrix/components", "code folder"):
            roots += ["bitrix/components/" + e.name for e in anchor.scandir("bitrix/components")
                      if e.name != "bitrix" and e.is_dir]
        if anchor.require_dir("bitrix/modules", "code folder"):
            roots += ["bitrix/modules/" + e.name for e in anchor.scandir("bitrix/modules")
                      if "." in e.name and e.is_dir]
        roots += [clean_rel(p, "php_upgrade_extra_code_paths") for p in extra]
        return [r for r in roots if anchor.require_dir(r, "code folder")]
    finally:
        if anchor is not docroot:
            anchor.close()


def walk_files(docroot: str | Anchor, roots: list[str]) -> Iterator[tuple[str, bool]]:
    """(absolute path, is_php) for PHP sources and .user.ini files under the roots, each once.

    Only regular files reached without symlinks; a symlink is never a file of the site's code here.
    """
    anchor = docroot if isinstance(docroot, Anchor) else Anchor(docroot)
    try:
        seen = set()
        try:
            top = anchor.lstat(".user.ini")
            if stat.S_ISREG(top.st_mode):
                seen.add(".user.ini")
                yield anchor.abspath(".user.ini"), False
        except FileNotFoundError:
            pass
        for root in roots:
            for entry in anchor.walk(root):
                if not entry.is_file or entry.rel in seen:
                    continue
                seen.add(entry.rel)
                if entry.name.endswith((".php", ".phtml")):
                    yield anchor.abspath(entry.rel), True
                elif entry.name == ".user.ini":
                    yield anchor.abspath(entry.rel), False
    finally:
        if anchor is not docroot:
            anchor.close()


def run_as_site_user(argv: list[str], user: str) -> tuple[int, str, str]:
    """(rc, stdout, stderr) of argv run as the site user with its own group only, when we are root
    (bitrix_process.as_site_user): the site's files are read with the site's rights, so a file swapped for a
    symlink to a root-only file cannot be read through."""
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False,
                          env=dict(site_user_env(user), LC_ALL="C"), **as_site_user(user))
    return proc.returncode, proc.stdout, proc.stderr


class TargetPhp:
    """The target PHP CLI: the installed one, or one unpacked from the package source's debs."""

    def __init__(self, module: AnsibleModule, target: str, path: str | None) -> None:
        self.module = module
        self.tmp = tempfile.mkdtemp(prefix="bxops-php-probe-")
        self.probe = False
        self.root = ""
        binary = path or f"/usr/bin/php{target}"
        if not os.access(binary, os.X_OK):
            binary = self._unpack(target)
        self.binary = binary
        probe_code = "echo PHP_VERSION, \"\\n\", PHP_EXTENSION_DIR;"
        rc, out, err = module.run_command([binary, "-n", "-r", probe_code])
        if rc != 0:
            self.cleanup()
            module.fail_json(msg=f"the target PHP {target} at {binary} does not run: {(err or out)[-500:]}")
        self.version, ext_dir = out.strip().splitlines()[:2]
        self.ext_dir = self.root + ext_dir

    def _unpack(self, target: str) -> str:
        self.probe = True
        self.root = os.path.join(self.tmp, "root")
        os.makedirs(self.root)
        for package in (f"php{target}-cli", f"php{target}-common"):
            debs = sorted(glob.glob(f"/var/cache/apt/archives/{package}_*.deb"))
            if not debs:
                rc, out, err = self.module.run_command(["apt-get", "download", package], cwd=self.tmp)
                debs = sorted(glob.glob(os.path.join(self.tmp, f"{package}_*.deb")))
                if rc != 0 or not debs:
                    self.cleanup()
                    self.module.fail_json(
                        msg=f"cannot obtain {package} to lint the site's code with PHP {target} "
                        "(not in apt's cache and "
                            f"apt-get download failed: {(err or out).strip()[-300:]})")
            rc, out, err = self.module.run_command(["dpkg-deb", "-x", debs[-1], self.root])
            if rc != 0:
                self.cleanup()
                self.module.fail_json(msg=f"cannot unpack {debs[-1]}: {err}")
        return os.path.join(self.root, "usr", "bin", f"php{target}")

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def lint(module: AnsibleModule, php: TargetPhp, path: str, short_open_tag: bool,
         user: str = "bitrix") -> tuple[int, str] | None:
    """(line, message) of the first error `php -l` reports, or None."""
    rc, out, err = run_as_site_user(
        [php.binary, "-n", "-d", "short_open_tag=%s" % ("1" if short_open_tag else "0"),
         "-d", "display_errors=stdout", "-d", "log_errors=0", "-l", path], user)
    if rc == 0:
        return None
    for text in (out or "").splitlines() + (err or "").splitlines():
        match = _LINT_RE.search(text)
        if match and "error" in match.group(1):
            return int(match.group(4)), f"{match.group(1)}: {match.group(2)}"
    return 0, ((out or "") + (err or "")).strip()[-300:] or f"php -l failed with exit code {rc}"


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            docroot=DOCROOT_OPTION,
            target=dict(type="str", required=True),
            current=dict(type="str", required=True),
            php=dict(type="path"),
            short_open_tag=dict(type="bool", default=True),
            extra_paths=dict(type="list", elements="str", default=[]),
            workers=dict(type="int", default=2),
            max_findings=dict(type="int", default=200),
            site_user=dict(type="str", default="bitrix"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    docroot, target, current = p["docroot"], p["target"], p["current"]
    try:
        vtuple(target)
        vtuple(current)
    except ValueError as exc:
        module.fail_json(msg=f"target and current must be X.Y versions: {exc}")
    if not os.path.isdir(docroot):
        module.fail_json(msg=f"{docroot} is not a directory")

    funcs = {n: v for n, v in REMOVED_FUNCTIONS.items() if relevant(v[0], current, target)}
    prefixes = {n: v for n, v in REMOVED_PREFIXES.items() if relevant(v[0], current, target)}
    added = {n: v for n, v in ADDED_FUNCTIONS.items() if relevant(v, current, target)}
    settings = {n: v for n, v in REMOVED_SETTINGS.items() if relevant(v[0], current, target)}

    try:
        site_user(p["site_user"])
    except NoSuchUser as exc:
        module.fail_json(msg=str(exc))
    try:
        anchor = Anchor(docroot)
        roots = own_code_roots(anchor, p["extra_paths"])
    except UnsafePath as exc:
        module.fail_json(msg=str(exc))

    php = TargetPhp(module, target, p["php"])
    # The site user runs the target PHP on the list and the scanner kept here: it must reach them.
    os.chmod(php.tmp, 0o755)
    findings: list[dict[str, object]] = []
    polyfilled: list[str] = []
    files = 0
    try:
        list_path = os.path.join(php.tmp, "files.txt")
        with open(list_path, "w", encoding="utf-8") as handle:
            php_files: list[str] = []
            for path, is_php in walk_files(anchor, roots):
                if is_php:
                    handle.write(path + "\n")
                    php_files.append(path)
                else:
                    findings.extend(scan_user_ini(anchor, path, settings))
        os.chmod(list_path, 0o644)
        files = len(php_files)

        def lint_one(path: str) -> dict[str, object] | None:
            error = lint(module, php, path, p["short_open_tag"], p["site_user"])
            if error is None:
                return None
            return {"file": os.path.relpath(path, docroot), "line": error[0], "kind": "lint",
                    "what": f"php -l (PHP {php.version})", "why": error[1]}

        with ThreadPoolExecutor(max_workers=max(1, p["workers"])) as pool:
            findings.extend(f for f in pool.map(lint_one, php_files) if f)
        del php_files

        script = os.path.join(php.tmp, "scan.php")
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(TOKEN_SCANNER)
        os.chmod(script, 0o644)
        rc, out, err = run_as_site_user(
            [php.binary, "-n", "-d", "short_open_tag=%s" % ("1" if p["short_open_tag"] else "0"),
             "-d", "memory_limit=1024M", "-d", "extension_dir=" + php.ext_dir, "-d", "extension=tokenizer",
             script, list_path, ",".join(funcs), ",".join(added), ",".join(settings), ",".join(prefixes)],
            p["site_user"])
        if rc != 0:
            module.fail_json(msg=f"the token scan with PHP {php.version} failed: {(err or out)[-500:]}")
        hits = [line.split("\t") for line in out.splitlines() if line.count("\t") == 3]
        polyfilled = sorted({h[3] for h in hits if h[2] == "declare" and h[3] != "__autoload"})
        for path, line, kind, name in hits:
            finding = describe(kind, name, funcs, prefixes, added, settings, polyfilled, target)
            if finding:
                finding.update(file=os.path.relpath(path, docroot), line=int(line))
                findings.append(finding)
    finally:
        php.cleanup()
        anchor.close()

    findings.sort(key=lambda f: (str(f["file"]), int(str(f["line"])), str(f["kind"])))
    module.exit_json(
        changed=False,
        files_scanned=files,
        findings=findings[: p["max_findings"]],
        findings_total=len(findings),
        polyfilled=polyfilled,
        php={"binary": php.binary if not php.probe else f"php{target} (unpacked from its package)",
             "version": php.version, "probe": php.probe},
    )


def describe(kind: str, name: str, funcs: dict[str, tuple[str, str]], prefixes: dict[str, tuple[str, str]],
             added: dict[str, str], settings: dict[str, tuple[str, str]], polyfilled: list[str],
             target: str) -> dict[str, object] | None:
    """Turn one scanner hit into a finding (what, why), or None when it is harmless."""
    if kind == "call":
        if name in polyfilled:
            return None
        if name in funcs:
            removed_in, advice = funcs[name]
            return {"kind": kind, "what": f"{name}()",
                    "why": f"{name}() was removed in PHP {removed_in}: {advice}"}
        for prefix, (_removed_in, advice) in prefixes.items():
            if name.startswith(prefix):
                return {"kind": kind, "what": f"{name}()", "why": f"{name}() {advice}"}
        return None
    if kind == "declare":
        if name != "__autoload":
            return None  # a polyfill for a removed function: calls to it keep working
        return {"kind": kind, "what": "function __autoload()",
                "why": "__autoload() was removed in PHP 8.0 (declaring it is fatal): "
                       "use spl_autoload_register()"}
    if kind == "collide":
        return {"kind": kind, "what": f"function {name}()",
                "why": f"PHP {added[name]} added {name}(): an unconditional global declaration is a fatal "
                       "redeclaration; "
                       "guard it with function_exists() or rename it"}
    if kind == "setting":
        removed_in, why = settings[name]
        return {"kind": kind, "what": name, "why": f"setting {name} {why}"}
    if kind == "constructor":
        return {"kind": kind, "what": f"class {name}: PHP-4 style constructor {name}()",
                "why": "since PHP 8.0 a method named like its class is no longer a constructor: rename it "
                       "__construct()"}
    if kind == "unreadable":
        return {"kind": kind, "what": "unreadable file", "why": "the scan could not read it"}
    return None


def scan_user_ini(docroot: str | Anchor, path: str, settings: dict[str, tuple[str, str]]) -> list[dict[str, object]]:
    """.user.ini files are read by PHP-FPM: a removed setting there breaks or misleads the new version.

    Read through the docroot's anchor: a .user.ini that is (or became) a symlink is not read.
    """
    anchor = docroot if isinstance(docroot, Anchor) else Anchor(docroot)
    rel = os.path.relpath(path, anchor.path)
    found: list[dict[str, object]] = []
    try:
        text = anchor.read_text(rel, limit=1 << 20)
        for number, line in enumerate(text.splitlines(), 1):
            match = _INI_KEY_RE.match(line.split(";", 1)[0])
            if match and match.group(1).lower() in settings:
                key = match.group(1).lower()
                found.append({"file": rel, "line": number, "kind": "ini",
                              "what": f"{key} = {match.group(2)}",
                              "why": f"setting {key} {settings[key][1]}"})
    except (OSError, UnsafePath) as exc:
        found.append({"file": rel, "line": 0, "kind": "unreadable", "what": "unreadable file", "why": str(exc)})
    finally:
        if anchor is not docroot:
            anchor.close()
    return found


if __name__ == "__main__":
    main()

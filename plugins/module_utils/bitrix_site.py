# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host-side helpers shared by the collection's modules.

They read what a Bitrix site says about itself (versions, kernel settings, dbconn
constants) and stream rows from its MariaDB database through the `mysql` client, so
modules need nothing beyond the host's python3 and the tools a Bitrix host has.
Facts used here: docs/bitrix-maintenance (sections 1 and 4).

The site is untrusted: its files belong to the site user and its options to any Bitrix admin.
Its PHP files are parsed as data, never executed (`parse_php`); they are read through a docroot
anchor that never follows a symlink (`bitrix_docroot.Anchor`); values taken from them are checked
before they reach an option file, a query or a path.
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import (  # noqa: F401 (re-exported)
    CONTROL_RE,
    VAULT_HINT,
    DbCredentials,
    DbError,
    MysqlClient,
    SiteConfigError,
    given,
    option_file_quote,
    sql_string,
    write_defaults_file,
)
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_db import unescape as _unescape  # noqa: F401
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import Anchor, UnsafePath

CORE_VERSION_FILE = "bitrix/modules/main/classes/general/version.php"
VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_MODULE_ID_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)?$")
VERSION_FILE_LIMIT = 256 << 10
_CONTROL_RE = CONTROL_RE
_DBCONN_FILES = ("bitrix/php_interface/dbconn.php", "local/php_interface/dbconn.php")


class NotABitrixSite(Exception):
    """The docroot has no Bitrix core."""


class UnsafeUploadDir(SiteConfigError, UnsafePath):
    """main.upload_dir holds a value that is not a plain folder inside the docroot."""


class SiteFileUnreadable(NotABitrixSite, SiteConfigError):
    """A site file that cannot be read as PHP (unterminated string, unbalanced brackets).

    Caught as NotABitrixSite by the version readers' callers and as RuntimeError by the credential
    readers' callers, so every module fails with this one line.
    """


class UnsafeSiteFile(SiteFileUnreadable, UnsafePath):
    """A site file reached through a symlink, not a regular file, or oversized: refused, never read."""


# --- PHP literals, read without running PHP ------------------------------------------------------
# The site's PHP files are data: root never executes them. The parser below understands the literal
# subset configuration files are written in (arrays, strings, numbers, true/false/null, comments, tags);
# any other expression is an unknown value, reported by its key, never evaluated.

SETTINGS_LIMIT = 1 << 20


class PhpParseError(ValueError):
    """The file is not PHP this parser can follow (unterminated string, unbalanced brackets)."""


class _Unknown:
    """A value the file computes (a call, a constant, concatenation…): never evaluated."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


class PhpArray(dict):  # type: ignore[type-arg]
    """A PHP array: keys int or str in order; ``unknown_keys`` counts entries whose key is not a literal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unknown_keys = 0


@dataclass
class _Tok:
    kind: str  # str, num, ident, var, op, opaque
    value: Any
    start: int
    end: int


_IDENT_START = re.compile(r"[A-Za-z_\x80-\xff\\]")
_DQ_VAR_START = re.compile(r"[{A-Za-z_\x80-\xff]")
_IDENT_RE = re.compile(r"\\?[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*(?:\\[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)*")
_VAR_RE = re.compile(r"\$[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*")
_NUM_RE = re.compile(
    r"0[xX][0-9a-fA-F]+(?:_[0-9a-fA-F]+)*"
    r"|0[bB][01]+(?:_[01]+)*"
    r"|0[oO][0-7]+(?:_[0-7]+)*"
    r"|(?:(?:\d+(?:_\d+)*)?\.\d+(?:_\d+)*|\d+(?:_\d+)*\.?(?:\d+(?:_\d+)*)?)(?:[eE][+-]?\d+(?:_\d+)*)?"
)
_OPS = sorted(
    ["<<=", ">>=", "**=", "...", "<=>", "===", "!==", "??=", "?->", "=>", "->", "::", "==", "!=", "<>", "<=",
     ">=", "&&", "||", "++", "--", "+=", "-=", "*=", "/=", ".=", "%=", "&=", "|=", "^=", "<<", ">>", "??", "**"],
    key=len, reverse=True,
)
_PHP_INT_MAX = (1 << 63) - 1
_DQ_SIMPLE = {"n": b"\n", "t": b"\t", "r": b"\r", "v": b"\v", "e": b"\x1b", "f": b"\f", "\\": b"\\", "$": b"$",
              '"': b'"'}
_HEX = "0123456789abcdefABCDEF"


def _php_number(text: str) -> int | float:
    raw = text.replace("_", "")
    low = raw.lower()
    if low.startswith("0x"):
        value: int | float = int(raw[2:], 16)
    elif low.startswith("0b"):
        value = int(raw[2:], 2)
    elif low.startswith("0o"):
        value = int(raw[2:], 8)
    elif any(ch in low for ch in ".e"):
        return float(raw)
    elif len(raw) > 1 and raw[0] == "0":
        if any(ch in raw for ch in "89"):
            raise PhpParseError("invalid octal literal %s" % text)
        value = int(raw, 8)
    else:
        value = int(raw)
    if isinstance(value, int) and value > _PHP_INT_MAX:
        return float(value)
    return value


def _single_quoted(body: str) -> bytes:
    """PHP's single-quoted string: only \\' and \\\\ are escapes."""
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in "'\\":
            out.append(body[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out).encode("latin-1")


def _double_quoted(body: str) -> bytes | None:
    """PHP's double-quoted string with its escapes; None when it interpolates a variable."""
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == "$" and i + 1 < n and _DQ_VAR_START.match(body, i + 1):
            return None
        if ch == "{" and i + 1 < n and body[i + 1] == "$":
            return None
        if ch != "\\" or i + 1 >= n:
            out += ch.encode("latin-1")
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _DQ_SIMPLE:
            out += _DQ_SIMPLE[nxt]
            i += 2
        elif nxt in "01234567":
            j = i + 1
            while j < n and j < i + 4 and body[j] in "01234567":
                j += 1
            out.append(int(body[i + 1:j], 8) & 0xFF)
            i = j
        elif nxt == "x" and i + 2 < n and body[i + 2] in _HEX:
            j = i + 2
            while j < n and j < i + 4 and body[j] in _HEX:
                j += 1
            out.append(int(body[i + 2:j], 16))
            i = j
        elif nxt == "u" and i + 2 < n and body[i + 2] == "{":
            close = body.find("}", i + 3)
            digits = body[i + 3:close] if close > 0 else ""
            if not digits or any(c not in _HEX for c in digits) or int(digits, 16) > 0x10FFFF:
                raise PhpParseError("invalid \\u{} escape")
            out += chr(int(digits, 16)).encode("utf-8", errors="surrogatepass")
            i = close + 1
        else:
            out += b"\\"
            i += 1
    return bytes(out)


def _php_tokens(source: bytes) -> list[_Tok]:
    """PHP's tokens, enough for configuration files; text outside <?php … ?> is skipped, comments too."""
    s = source.decode("latin-1")  # byte-for-byte: string values keep the file's exact bytes
    n = len(s)
    toks: list[_Tok] = []
    i = 0
    in_php = False
    while i < n:
        if not in_php:
            j = s.find("<?", i)
            if j < 0:
                break
            if s[j:j + 5].lower() == "<?php" and (j + 5 == n or s[j + 5] in " \t\r\n"):
                i = j + 6
            elif s.startswith("<?=", j):
                toks.append(_Tok("ident", "echo", j, j + 3))
                i = j + 3
            else:
                i = j + 2
            in_php = True
            continue
        ch = s[i]
        if ch in " \t\r\n\f\v":
            i += 1
        elif s.startswith("?>", i):
            toks.append(_Tok("op", ";", i, i + 2))
            i += 2
            if s.startswith("\r\n", i):
                i += 2
            elif i < n and s[i] == "\n":
                i += 1
            in_php = False
        elif ch == "#" or s.startswith("//", i):
            j = i
            while j < n and s[j] not in "\r\n" and not s.startswith("?>", j):
                j += 1
            i = j
        elif s.startswith("/*", i):
            j = s.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif ch in "'\"`":
            j = i + 1
            while j < n and s[j] != ch:
                j += 2 if s[j] == "\\" else 1
            if j >= n:
                raise PhpParseError("unterminated string starting at byte %d" % i)
            body = s[i + 1:j]
            if ch == "'":
                toks.append(_Tok("str", _single_quoted(body), i, j + 1))
            elif ch == '"':
                toks.append(_Tok("str", _double_quoted(body), i, j + 1))
            else:  # `…` runs a shell command in PHP: an expression like any other call, never run here
                toks.append(_Tok("opaque", None, i, j + 1))
            i = j + 1
        elif s.startswith("<<<", i):
            match = re.compile(r"<<<[ \t]*(['\"]?)([A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)\1\r?\n").match(s, i)
            if not match:
                raise PhpParseError("unreadable heredoc at byte %d" % i)
            end = re.compile(r"^[ \t]*" + re.escape(match.group(2)) + r"(?![A-Za-z0-9_\x80-\xff])", re.M)
            found = end.search(s, match.end())
            if not found:
                raise PhpParseError("unterminated heredoc at byte %d" % i)
            toks.append(_Tok("opaque", None, i, found.end()))
            i = found.end()
        elif ch == "$" and _VAR_RE.match(s, i):
            match = _VAR_RE.match(s, i)
            assert match is not None
            toks.append(_Tok("var", match.group(0)[1:], i, match.end()))
            i = match.end()
        elif ch.isdigit() or (ch == "." and i + 1 < n and s[i + 1].isdigit()):
            match = _NUM_RE.match(s, i)
            assert match is not None
            toks.append(_Tok("num", _php_number(match.group(0)), i, match.end()))
            i = match.end()
        elif _IDENT_RE.match(s, i):
            match = _IDENT_RE.match(s, i)
            assert match is not None
            toks.append(_Tok("ident", match.group(0), i, match.end()))
            i = match.end()
        else:
            for op in _OPS:
                if s.startswith(op, i):
                    break
            else:
                op = ch
            toks.append(_Tok("op", op, i, i + len(op)))
            i += len(op)
    return toks


_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_MAX_NESTING = 100  # real settings nest 5 deep; a hostile file must not exhaust the stack
_EXPR_END = {",", "=>", ")", "]", "}", ";"}


def _key_of(value: Any) -> int | str | _Unknown:
    """The key PHP stores for a literal key: canonical decimal strings become ints, bool/float int, null ''."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if value is None:
        return ""
    if isinstance(value, str):
        canonical = re.fullmatch(r"-?(0|[1-9][0-9]*)", value) and value != "-0"
        if canonical and -_PHP_INT_MAX - 1 <= int(value) <= _PHP_INT_MAX:
            return int(value)
        return value
    return UNKNOWN


class _Parser:
    def __init__(self, toks: list[_Tok], source: str) -> None:
        self.toks = toks
        self.source = source
        self.pos = 0
        self.nesting = 0

    def peek(self, offset: int = 0) -> _Tok | None:
        index = self.pos + offset
        return self.toks[index] if index < len(self.toks) else None

    def is_op(self, tok: _Tok | None, *ops: str) -> bool:
        return tok is not None and tok.kind == "op" and tok.value in ops

    def at_end(self) -> bool:
        tok = self.peek()
        return tok is None or (tok.kind == "op" and tok.value in _EXPR_END)

    def skip_expression(self) -> None:
        """Step over an expression this parser does not evaluate, brackets balanced."""
        stack: list[str] = []
        arrows = 0  # `fn (…) =>` seen at this level: their `=>` is part of the expression
        while True:
            tok = self.peek()
            if tok is None:
                if stack:
                    raise PhpParseError("unbalanced %r" % stack[-1])
                return
            if tok.kind == "ident" and tok.value.lower() == "fn" and self.is_op(self.peek(1), "(") and not stack:
                arrows += 1
            if tok.kind == "op":
                if not stack and tok.value == "=>" and arrows:
                    arrows -= 1
                elif not stack and tok.value in _EXPR_END:
                    return
                if tok.value in _CLOSERS:
                    stack.append(_CLOSERS[tok.value])
                elif tok.value in (")", "]", "}"):
                    if stack[-1] != tok.value:
                        raise PhpParseError("unbalanced %r at byte %d" % (tok.value, tok.start))
                    stack.pop()
            self.pos += 1

    def expression(self) -> Any:
        """One expression: its value when it is a literal, else UNKNOWN (stepped over, never run)."""
        value = self.primary()
        if self.at_end():
            return value
        self.skip_expression()
        return UNKNOWN

    def primary(self) -> Any:
        tok = self.peek()
        if tok is None:
            return UNKNOWN
        if tok.kind == "op" and tok.value in ("-", "+"):
            nxt = self.peek(1)
            if nxt is not None and nxt.kind == "num":
                self.pos += 2
                return -nxt.value if tok.value == "-" else nxt.value
            return UNKNOWN
        if tok.kind == "num":
            self.pos += 1
            return tok.value
        if tok.kind == "str":
            self.pos += 1
            if tok.value is None:
                return UNKNOWN
            return bytes(tok.value).decode("utf-8", errors="surrogateescape")
        if tok.kind == "ident":
            name = tok.value.lower()
            nxt = self.peek(1)
            if name in ("true", "false", "null") and not self.is_op(nxt, "(", "::"):
                self.pos += 1
                return {"true": True, "false": False, "null": None}[name]
            if name == "array" and self.is_op(nxt, "("):
                self.pos += 2
                return self.array(")")
            return UNKNOWN
        if self.is_op(tok, "["):
            self.pos += 1
            return self.array("]")
        return UNKNOWN

    def array(self, closer: str) -> PhpArray:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise PhpParseError("arrays nested more than %d deep" % _MAX_NESTING)
        try:
            return self._array(closer)
        finally:
            self.nesting -= 1

    def _array(self, closer: str) -> PhpArray:
        result = PhpArray()
        next_index = 0
        while True:
            tok = self.peek()
            if tok is None:
                raise PhpParseError("unterminated array")
            if self.is_op(tok, closer):
                self.pos += 1
                return result
            if self.is_op(tok, ","):
                self.pos += 1
                continue
            if self.is_op(tok, "..."):
                self.pos += 1
                self.skip_expression()
                result.unknown_keys += 1
            else:
                if self.is_op(tok, "&"):
                    self.pos += 1
                first = self.expression()
                if self.is_op(self.peek(), "=>"):
                    self.pos += 1
                    if self.is_op(self.peek(), "&"):
                        self.pos += 1
                    value = self.expression()
                    key = _key_of(first) if first is not UNKNOWN and not isinstance(first, PhpArray) else UNKNOWN
                else:
                    key, value = next_index, first
                if isinstance(key, _Unknown):
                    result.unknown_keys += 1
                else:
                    result[key] = value
                    if isinstance(key, int) and key >= next_index:
                        next_index = key + 1
            tok = self.peek()
            if self.is_op(tok, ","):
                self.pos += 1
            elif not self.is_op(tok, closer):
                where = "the end of the file" if tok is None else "byte %d" % tok.start
                raise PhpParseError("expected ',' or %r at %s" % (closer, where))

    def statements(self) -> Iterator[tuple[str, Any]]:
        """Top-level statements this parser follows, in file order (other code is stepped over):
        ("return", value), ("assign", (var, value)), ("assign_key", (var, key, value)),
        ("define", (name, value, raw_text))."""
        depth = 0
        while self.pos < len(self.toks):
            tok = self.toks[self.pos]
            nxt = self.peek(1)
            if tok.kind == "op" and tok.value in ("{", "(", "["):
                depth += 1
            elif tok.kind == "op" and tok.value in ("}", ")", "]"):
                depth = max(0, depth - 1)
            elif tok.kind == "ident" and tok.value.lower() == "return":
                self.pos += 1
                if depth:
                    yield "return", UNKNOWN  # a conditional or nested return: what it returns is not known
                    continue
                yield "return", self.expression()
                continue
            elif tok.kind == "var" and self.is_op(nxt, "="):
                self.pos += 2
                yield "assign", (tok.value, self.expression())
                continue
            elif tok.kind == "var" and self.is_op(nxt, "["):
                start_pos = self.pos
                self.pos += 2
                key = self.expression()
                if self.is_op(self.peek(), "]") and self.is_op(self.peek(1), "="):
                    self.pos += 2
                    yield "assign_key", (tok.value, _key_of(key) if key is not UNKNOWN else UNKNOWN,
                                         self.expression())
                else:  # a read such as $a['x'] == 1: step over the variable only, brackets counted as usual
                    self.pos = start_pos + 1
                continue
            elif tok.kind == "ident" and tok.value.lower().lstrip("\\") == "define" and self.is_op(nxt, "("):
                self.pos += 2
                name = self.expression()
                if self.is_op(self.peek(), ","):
                    self.pos += 1
                    start = self.peek()
                    value = self.expression()
                    end = self.peek()
                    raw = ""
                    if start is not None:
                        raw = self.source[start.start:end.start if end is not None else len(self.source)].strip()
                    while self.is_op(self.peek(), ","):  # define()'s old third argument
                        self.pos += 1
                        self.expression()
                    if isinstance(name, str):
                        yield "define", (name, value, raw)
                if self.is_op(self.peek(), ")"):
                    self.pos += 1
                continue
            self.pos += 1


def parse_php(source: bytes) -> _Parser:
    """A parser over a PHP file's tokens (PhpParseError when the file cannot be tokenised)."""
    return _Parser(_php_tokens(source), source.decode("latin-1"))


def php_return_value(source: bytes) -> Any:
    """What ``include`` of this file would return, without running it: the first top-level
    ``return``'s literal (a PhpArray, scalar, or UNKNOWN); 1 (PHP's value) when it returns nothing."""
    for kind, value in parse_php(source).statements():
        if kind == "return":
            return value
    return 1


def _plain(value: Any) -> Any:
    """A PhpArray tree as json_encode gives it (lists for 0..n-1 keys, str keys); UNKNOWN -> None."""
    if isinstance(value, PhpArray):
        keys = list(value)
        if keys == list(range(len(keys))):
            return [_plain(v) for v in value.values()]
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, _Unknown):
        return None
    return value


def _unparsed_paths(value: Any, path: str = "") -> list[str]:
    if isinstance(value, _Unknown):
        return [path or "(the whole file)"]
    found: list[str] = []
    if isinstance(value, PhpArray):
        if value.unknown_keys:
            found.append((path + "." if path else "") + "?")
        for key, item in value.items():
            found += _unparsed_paths(item, (path + "." if path else "") + str(key))
    return found


def array_replace_recursive(base: PhpArray, replacement: PhpArray) -> PhpArray:
    """PHP's array_replace_recursive: arrays in both merge key by key, anything else is replaced."""
    merged = PhpArray(base)
    merged.unknown_keys = base.unknown_keys + replacement.unknown_keys
    for key, value in replacement.items():
        current = merged.get(key)
        if isinstance(value, PhpArray) and isinstance(current, PhpArray):
            merged[key] = array_replace_recursive(current, value)
        else:
            merged[key] = value
    return merged


# --- reading site files ---------------------------------------------------------------------------
def _read_site_file(anchor: Anchor, rel: str, limit: int = SETTINGS_LIMIT) -> bytes | None:
    """A site file's bytes, reached from the docroot without following any symlink; None if absent."""
    try:
        return anchor.read_bytes(rel, limit)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except IsADirectoryError as exc:
        raise UnsafeSiteFile("refusing %s: it is a folder, not a file" % anchor.abspath(rel)) from exc
    except UnsafePath as exc:
        raise UnsafeSiteFile("%s (bxops never follows symlinks under the docroot)" % exc) from exc


def _parse_site_php(anchor: Anchor, rel: str, source: bytes) -> _Parser:
    try:
        return parse_php(source)
    except PhpParseError as exc:
        raise SiteFileUnreadable("cannot read %s: %s" % (anchor.abspath(rel), exc)) from exc


def version_tuple(version: str) -> tuple[int, int, int]:
    """'23.900.550' -> (23, 900, 550); raises ValueError for anything else."""
    match = VERSION_RE.search(version or "")
    if not match:
        raise ValueError("not a Bitrix version: %r" % (version,))
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def require_site(docroot: str) -> None:
    """Raise NotABitrixSite with a clear reason unless docroot holds a Bitrix core."""
    if not os.path.isdir(docroot):
        raise NotABitrixSite("%s does not exist or is not a directory" % docroot)
    with Anchor(docroot) as anchor:
        try:
            st = anchor.lstat(CORE_VERSION_FILE)
        except (FileNotFoundError, NotADirectoryError):
            st = None
        except UnsafePath as exc:
            raise UnsafeSiteFile("%s (bxops never follows symlinks under the docroot)" % exc) from exc
    if st is None:
        raise NotABitrixSite("%s is not a 1C-Bitrix site: %s is missing" % (docroot, CORE_VERSION_FILE))
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeSiteFile("refusing %s: not a regular file" % os.path.join(docroot, CORE_VERSION_FILE))


def _defines(parser: _Parser) -> dict[str, tuple[Any, str]]:
    """define()d constants: name -> (value or UNKNOWN, text as written). The first define wins, as in PHP
    (a second define of the same name only warns)."""
    found: dict[str, tuple[Any, str]] = {}
    for kind, item in parser.statements():
        if kind == "define" and item[0] not in found:
            found[item[0]] = (item[1], item[2])
    return found


def core_version_from(source: bytes) -> dict[str, str | None]:
    """SM_VERSION / SM_VERSION_DATE of main's version.php text; comments and inline HTML are skipped."""
    defines = _defines(parse_php(source))

    def literal(name: str) -> str | None:
        value = defines.get(name, (None, ""))[0]
        return value if isinstance(value, str) else None

    return {"version": literal("SM_VERSION"), "date": literal("SM_VERSION_DATE")}


def read_core_version(docroot: str) -> dict[str, str | None]:
    """The core ("main") version and date from version.php."""
    require_site(docroot)
    with Anchor(docroot) as anchor:
        source = _read_site_file(anchor, CORE_VERSION_FILE, VERSION_FILE_LIMIT)
    if source is None:
        raise NotABitrixSite("%s is not a 1C-Bitrix site: %s is missing" % (docroot, CORE_VERSION_FILE))
    try:
        info = core_version_from(source)
    except PhpParseError as exc:
        raise NotABitrixSite("cannot read %s: %s" % (CORE_VERSION_FILE, exc)) from exc
    if not info["version"]:
        raise NotABitrixSite("SM_VERSION is not defined in %s" % CORE_VERSION_FILE)
    return info


def module_version_from(source: bytes) -> dict[str, str | None]:
    """VERSION / VERSION_DATE of a module's install/version.php text, as PHP would leave $arModuleVersion:
    comments skipped, the last assignment winning, `$arModuleVersion["VERSION"] = …` followed."""
    current: Any = None
    for kind, item in parse_php(source).statements():
        if kind == "assign" and item[0] == "arModuleVersion":
            current = item[1]
        elif kind == "assign_key" and item[0] == "arModuleVersion":
            if not isinstance(current, PhpArray):
                current = PhpArray()
            if not isinstance(item[1], _Unknown):
                current[item[1]] = item[2]
    if not isinstance(current, PhpArray):
        return {"version": None, "date": None}
    version, date = current.get("VERSION"), current.get("VERSION_DATE")
    return {
        "version": version if isinstance(version, str) else None,
        "date": date if isinstance(date, str) else None,
    }


def read_module_version(path: str) -> dict[str, str | None]:
    """A module's install/version.php (path: an absolute path the caller trusts up to the file itself,
    which is opened without following a symlink), whatever the quoting style."""
    with Anchor(os.path.dirname(path)) as anchor:
        source = _read_site_file(anchor, os.path.basename(path), VERSION_FILE_LIMIT)
    if source is None:
        return {"version": None, "date": None}
    try:
        return module_version_from(source)
    except PhpParseError:
        return {"version": None, "date": None}


def find_modules(docroot: str, refused: list[str] | None = None) -> dict[str, dict[str, object]]:
    """Every module folder on disk, `local/modules` winning over `bitrix/modules`.

    `main` has no install/version.php: its version is the core's. A module folder or version file that
    is a symlink is not followed: it is left out and, when `refused` is given, named there.
    """
    found: dict[str, dict[str, object]] = {}
    with Anchor(docroot) as anchor:
        for location in ("bitrix", "local"):
            base = location + "/modules"
            try:
                entries = anchor.scandir(base)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except UnsafePath as exc:
                if refused is not None:
                    refused.append(str(exc))
                continue
            for entry in entries:
                if not _MODULE_ID_RE.match(entry.name):
                    continue
                if entry.is_symlink:
                    if refused is not None:
                        refused.append("%s is a symlink: not followed" % anchor.abspath(entry.rel))
                    continue
                if not entry.is_dir:
                    continue
                if entry.name == "main":
                    info = read_core_version(docroot)
                    rel = CORE_VERSION_FILE
                else:
                    rel = entry.rel + "/install/version.php"
                    try:
                        source = _read_site_file(anchor, rel, VERSION_FILE_LIMIT)
                    except UnsafeSiteFile as exc:
                        if refused is not None:
                            refused.append(str(exc))
                        continue
                    if source is None:
                        continue
                    try:
                        info = module_version_from(source)
                    except PhpParseError:
                        info = {"version": None, "date": None}
                found[entry.name] = {
                    "version": info["version"],
                    "date": info["date"],
                    "path": rel,
                    "location": location,
                    "marketplace": "." in entry.name,
                }
    return found


def read_dbconn_constants(docroot: str) -> dict[str, str]:
    """BX_* constants from dbconn.php (`local/php_interface` wins): strings as PHP reads them, anything
    else as written (`0664`, `true`, or the text of an expression, which is never evaluated)."""
    constants: dict[str, str] = {}
    with Anchor(docroot) as anchor:
        for rel in _DBCONN_FILES:
            source = _read_site_file(anchor, rel)
            if source is None:
                continue
            for name, (value, raw) in _defines(_parse_site_php(anchor, rel, source)).items():
                if name.startswith("BX_"):
                    constants[name] = value if isinstance(value, str) else raw
    return constants


def permission_defaults(docroot: str) -> tuple[int, int]:
    """(file_mode, dir_mode) the site asks for; the core's defaults 0644/0755 when unset."""
    constants = read_dbconn_constants(docroot)

    def as_mode(raw: str | None, default: int) -> int:
        if raw is None:
            return default
        try:
            return int(raw, 8) if not raw.lower().startswith("0x") else int(raw, 16)
        except ValueError:
            return default

    return (
        as_mode(constants.get("BX_FILE_PERMISSIONS"), 0o644),
        as_mode(constants.get("BX_DIR_PERMISSIONS"), 0o755),
    )


# --- kernel settings ------------------------------------------------------------------------------
SETTINGS_FILES = ("bitrix/.settings.php", "bitrix/.settings_extra.php")


@dataclass
class SiteSettings:
    """The kernel settings array (.settings.php with .settings_extra.php replaced over it, as the core
    does with array_replace_recursive), read without running PHP.

    ``tree`` keeps PHP's shape (PhpArray, UNKNOWN for a value that is code); ``unparsed`` names those
    values by dotted key path ("connections.value.default.password"; "?" for an entry whose key is code).
    """

    tree: Any = field(default_factory=PhpArray)
    unparsed: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # .settings_extra.php returns something computed: any key of .settings.php may be replaced by it
    extra_unknown: bool = False

    @property
    def values(self) -> dict[str, object]:
        plain = _plain(self.tree)
        return plain if isinstance(plain, dict) else {}


def load_settings(docroot: str) -> SiteSettings:
    """bitrix/.settings.php merged with bitrix/.settings_extra.php, parsed as data (never executed)."""
    result = SiteSettings()
    with Anchor(docroot) as anchor:
        for rel in SETTINGS_FILES:
            source = _read_site_file(anchor, rel)
            if source is None:
                if rel == SETTINGS_FILES[0]:
                    return result
                continue
            result.files.append(rel)
            try:
                value = php_return_value(source)
            except PhpParseError as exc:
                raise SiteFileUnreadable("cannot read %s: %s" % (anchor.abspath(rel), exc)) from exc
            if isinstance(value, _Unknown):
                # the file returns something computed: nothing in it is known
                result.unparsed.append("%s: (what the file returns)" % rel)
                if rel == SETTINGS_FILES[0]:
                    result.tree = UNKNOWN
                else:
                    result.extra_unknown = True
                continue
            if not isinstance(value, PhpArray):
                if rel == SETTINGS_FILES[0]:
                    result.tree = PhpArray()  # include of a file that returns no array: no settings
                continue
            if rel == SETTINGS_FILES[0]:
                result.tree = value
            elif isinstance(result.tree, PhpArray):
                result.tree = array_replace_recursive(result.tree, value)
    result.unparsed += _unparsed_paths(result.tree) if isinstance(result.tree, PhpArray) else []
    return result


def read_settings(docroot: str) -> dict[str, object]:
    """The kernel settings array as plain values (json_encode's shapes); values that are code are None
    (see load_settings for which)."""
    return load_settings(docroot).values


_DBCONN_FIELDS = {"DBHost": "host", "DBLogin": "login", "DBPassword": "password", "DBName": "database"}


def _dbconn_values(docroot: str) -> tuple[dict[str, Any], str]:
    """The legacy `$DBHost/$DBLogin/$DBPassword/$DBName` of dbconn.php (`local/php_interface` wins, the last
    assignment in a file wins, as PHP runs it); a value that is code is UNKNOWN. Also the file they came from."""
    found: dict[str, Any] = {}
    origin = ""
    with Anchor(docroot) as anchor:
        for rel in _DBCONN_FILES:
            source = _read_site_file(anchor, rel)
            if source is None:
                continue
            for kind, item in _parse_site_php(anchor, rel, source).statements():
                if kind == "assign" and item[0] in _DBCONN_FIELDS:
                    value = item[1]
                    if not isinstance(value, (str, _Unknown)):
                        value = UNKNOWN if isinstance(value, PhpArray) else ("" if value is None else str(value))
                    found[_DBCONN_FIELDS[item[0]]] = value
                    origin = rel
    return found, origin


def read_dbconn_credentials(docroot: str) -> dict[str, str]:
    """The legacy `$DBHost/$DBLogin/$DBPassword/$DBName` of dbconn.php (`local/php_interface` wins), where
    cores before 20.900 keep the DB connection (later ones: .settings.php `connections`). Values that are
    code (not literals) are left out."""
    values, _origin = _dbconn_values(docroot)
    return {key: value for key, value in values.items() if isinstance(value, str)}


def _connection_default(settings: SiteSettings) -> Any:
    """connections.default of the settings tree: a PhpArray, None when absent, UNKNOWN when it is code."""
    if settings.extra_unknown or isinstance(settings.tree, _Unknown):
        return UNKNOWN
    tree = settings.tree
    if not isinstance(tree, PhpArray) or "connections" not in tree:
        return None
    connections = tree["connections"]
    if isinstance(connections, PhpArray) and "value" in connections:
        connections = connections["value"]
    if isinstance(connections, _Unknown):
        return UNKNOWN
    if not isinstance(connections, PhpArray):
        return None
    if "default" not in connections:
        return UNKNOWN if connections.unknown_keys else None
    return connections["default"]


def db_credentials(docroot: str, override: dict[str, str] | None = None) -> DbCredentials:
    """DB credentials from the caller (vault), else .settings.php's default connection, else the legacy
    variables of dbconn.php; values the caller gives win over the site's.

    The site's files are parsed, never run. A credential the site computes (a function call, a constant,
    concatenation…) cannot be read that way: SiteConfigError asks for it in the vault. Values with
    control characters are refused (SiteConfigError naming the field, never the value).
    """
    override = given(override)
    if {"database", "user"} <= set(override):
        creds = DbCredentials(
            host=override.get("host", "localhost"),
            database=override["database"],
            user=override["user"],
            password=override.get("password", ""),
        )
        creds.validate({name: "the vault" for name in ("host", "database", "user", "password")})
        return creds
    needed = [key for key, wanted in (("host", "host"), ("database", "database"), ("login", "user"),
                                      ("password", "password")) if wanted not in override]
    settings = load_settings(docroot)
    default = _connection_default(settings)
    origin = "bitrix/.settings.php (connections.default)"
    if isinstance(default, _Unknown):
        raise SiteConfigError(
            "bitrix/.settings.php: the DB connection (connections.default) is computed by PHP code, which bxops "
            "never runs; %s" % VAULT_HINT)
    if not isinstance(default, PhpArray) or not isinstance(default.get("database"), (str, _Unknown)) \
            or default.get("database") == "":
        default, dbconn_rel = _dbconn_values(docroot)
        origin = "%s ($DB* variables)" % dbconn_rel
    for key in needed:
        if isinstance(default.get(key), _Unknown):
            shown = {"host": "$DBHost", "login": "$DBLogin", "password": "$DBPassword", "database": "$DBName"}[key] \
                if "$DB" in origin else "connections.default." + key
            raise SiteConfigError(
                "%s: the DB %s is computed by PHP code (not a plain value), which bxops never runs; %s"
                % (origin, shown, VAULT_HINT))
    if not default.get("database"):
        raise SiteConfigError(
            "no DB credentials: neither bitrix/.settings.php (connections.default) nor dbconn.php ($DBName) "
            "has them, and none were given"
        )

    def text(value: Any) -> str:
        return "" if value is None or isinstance(value, _Unknown) else str(value)

    creds = DbCredentials(
        host=str(override.get("host") or text(default.get("host")) or "localhost"),
        database=str(override.get("database") or text(default["database"])),
        user=str(override.get("user") or text(default.get("login"))),
        password=str(override.get("password") or text(default.get("password"))),
    )
    creds.validate({name: "the vault" if override.get(name) else origin
                    for name in ("host", "database", "user", "password")})
    return creds


def option_value(client: MysqlClient, module: str, name: str, default: str = "") -> str:
    """A b_option value (site-independent row); module and name are escaped, never stripped."""
    value = client.scalar(
        "SELECT VALUE FROM b_option WHERE MODULE_ID=%s AND NAME=%s LIMIT 1" % (sql_string(module), sql_string(name))
    )
    return value if value not in (None, "") else default


DEFAULT_UPLOAD_DIR = "upload"


def resolve_upload_dir(raw: str | None) -> str:
    """The upload folder, relative to the docroot, from option main.upload_dir as the site stores it.

    The option is site-controlled (editable from the admin panel), so it is checked like any path from the
    site: surrounding '/' dropped ("/upload/" and "upload" alike); empty or NULL is Bitrix's default
    "upload"; empty components, ".", "..", NUL and other control characters are refused, as is a value that
    names the docroot itself ("/"). Raises UnsafeUploadDir (an UnsafePath and a RuntimeError) naming the
    value with repr().
    """
    if raw is None or raw == "":
        return DEFAULT_UPLOAD_DIR
    if not isinstance(raw, str):
        raise UnsafeUploadDir("main.upload_dir=%r is refused: not a string" % (raw,))
    if _CONTROL_RE.search(raw):
        raise UnsafeUploadDir("main.upload_dir=%r is refused: it holds control characters" % raw)
    stripped = raw.strip("/")
    if not stripped:
        raise UnsafeUploadDir("main.upload_dir=%r is refused: it names the docroot itself, not a folder in it" % raw)
    parts = stripped.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafeUploadDir(
                "main.upload_dir=%r is refused: only a plain path inside the docroot is allowed (no empty, '.' or "
                "'..' components)" % raw)
    return "/".join(parts)


def upload_dir(client: MysqlClient) -> str:
    """The site's upload folder relative to the docroot: option main.upload_dir read from the DB and checked
    by resolve_upload_dir (UnsafeUploadDir when the site's value is refused)."""
    return resolve_upload_dir(option_value(client, "main", "upload_dir", ""))

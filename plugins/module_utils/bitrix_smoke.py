# Copyright: bxops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smoke test, written once: does the site answer through the local web server?

Each smoke URL is a dict {path, status, marker}: `path` is appended to the base URL (the web server on the
host, e.g. http://127.0.0.1), requested with the site's Host header, without following redirects and without
any proxy from the environment; `status` (default 200) is the expected status, or a list of statuses that
count as serving; `marker` (optional) is text the page must contain. A page showing a PHP or DB error fails
too, and when a PHP version is given, a page whose X-Powered-By names another PHP fails.

Every URL gets a result {path, url, ok, status, reason, response_ms, bytes, x_powered_by}: `reason` says in
plain words what was wrong ("status 500, expected 200", "marker 'X' not found", "no answer: ...") or what
was seen ("status 200, marker found").

Used by bitrix_smoke_test (the update's smoke test and its check after a rollback, php_upgrade's smoke test and
rollback check, the backup's restore check) and bitrix_audit (the home page).
"""
from __future__ import annotations

import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

DEFAULT_BASE_URL = "http://127.0.0.1"
DEFAULT_TIMEOUT = 30
MAX_BODY = 2 << 20  # enough for any marker; a page is not downloaded further
_ERROR_PAGE_RE = re.compile(r"(Fatal error|Parse error)</b>:|DB query error")
SPEC_KEYS = ("path", "status", "marker")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer of its own (its status is judged), never followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener(follow_redirects: bool) -> urllib.request.OpenerDirector:
    # No proxy: the request goes to the web server on this host, whatever http_proxy says. The certificate
    # is not judged here (the page is asked of 127.0.0.1; the certificates role and the audit check it).
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    handlers: list[Any] = [urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)]
    if not follow_redirects:
        handlers.append(_NoRedirect)
    return urllib.request.build_opener(*handlers)


def url_for(base_url: str, path: str) -> str:
    """The base URL with the path appended; an empty path asks for the base URL itself."""
    return base_url if not path else base_url.rstrip("/") + path


def fetch(url: str, host: str | None = None, timeout: float = DEFAULT_TIMEOUT,
          follow_redirects: bool = False) -> dict[str, Any]:
    """{url, status, body, x_powered_by, response_ms, bytes, error}: status None (and error set) when
    nothing answered. An HTTP error status is an answer, not an error; a redirect is one too unless
    follow_redirects (the audit's home page follows them, as a visitor does)."""
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    started = time.monotonic()
    try:
        with _opener(follow_redirects).open(request, timeout=timeout) as response:
            status, body, headers = response.status, response.read(MAX_BODY), response.headers
    except urllib.error.HTTPError as exc:
        status, headers = exc.code, exc.headers
        try:
            body = exc.read(MAX_BODY)
        except OSError:
            body = b""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return {"url": url, "status": None, "body": b"", "x_powered_by": None, "response_ms": None,
                "bytes": 0, "error": str(reason)}
    return {"url": url, "status": status, "body": body,
            "x_powered_by": headers.get("X-Powered-By") if headers is not None else None,
            "response_ms": round((time.monotonic() - started) * 1000, 1), "bytes": len(body), "error": None}


def spec_problem(spec: Any) -> str | None:
    """Why a smoke URL spec is unusable (None when it is fine): named in the caller's variable's terms."""
    if not isinstance(spec, dict):
        return f"{spec!r} is not a dict with path, status and marker"
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        return f"{spec!r} has unknown keys {unknown} (known: path, status, marker)"
    path = spec.get("path", "/")
    if not isinstance(path, str) or (path and not path.startswith("/")) or any(c in path for c in "\r\n\t "):
        return f"{spec!r}: path must be empty or start with / and hold no spaces or control characters"
    statuses = expected_statuses(spec)
    if not statuses or any(not 100 <= code <= 599 for code in statuses):
        return f"{spec!r}: status must be an HTTP status (100-599) or a list of them"
    marker = spec.get("marker")
    if marker is not None and not isinstance(marker, str):
        return f"{spec!r}: marker must be text"
    return None


def expected_statuses(spec: dict[str, Any]) -> list[int]:
    """The statuses that count as serving: spec status (an int or a list of ints), default [200]."""
    raw = spec.get("status")
    if raw is None or raw == "":
        return [200]
    values = raw if isinstance(raw, list) else [raw]
    try:
        return [int(value) for value in values if not isinstance(value, bool)] if values else []
    except (TypeError, ValueError):
        return []


def judge(page: dict[str, Any], spec: dict[str, Any], php_version: str | None = None) -> tuple[bool, str]:
    """(ok, reason in plain words) for one fetched page against its spec."""
    if page["status"] is None:
        return False, f"no answer: {page['error']}"
    statuses = expected_statuses(spec)
    marker = spec.get("marker") or ""
    text = str(page["body"], "utf-8", "replace")
    problems = []
    if page["status"] not in statuses:
        problems.append("status {}, expected {}".format(page["status"], " or ".join(str(s) for s in statuses)))
    if marker and marker not in text:
        problems.append(f"marker {marker!r} not found")
    if _ERROR_PAGE_RE.search(text):
        problems.append("the page shows a PHP/DB error")
    powered = page.get("x_powered_by")
    if php_version and powered and f"PHP/{php_version}" not in powered:
        problems.append(f"served by {powered}, not PHP {php_version}")
    if problems:
        return False, "; ".join(problems)
    return True, "status {}{}".format(page["status"], ", marker found" if marker else "")


def check(base_url: str, host: str | None, spec: dict[str, Any], timeout: float = DEFAULT_TIMEOUT,
          php_version: str | None = None) -> dict[str, Any]:
    """One smoke URL: {path, url, ok, status, reason, response_ms, bytes, x_powered_by}."""
    path = str(spec.get("path", "/") if spec.get("path") is not None else "/")
    page = fetch(url_for(base_url, path), host, timeout)
    ok, reason = judge(page, spec, php_version)
    return {"path": path, "url": page["url"], "ok": ok, "status": page["status"], "reason": reason,
            "response_ms": page["response_ms"], "bytes": page["bytes"], "x_powered_by": page["x_powered_by"]}


def check_all(base_url: str, host: str | None, specs: list[dict[str, Any]], timeout: float = DEFAULT_TIMEOUT,
              php_version: str | None = None, retry_for: float = 0, delay: float = 3,
              clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep) -> list[dict[str, Any]]:
    """Every smoke URL, in order. With retry_for > 0 the failing ones are asked again every `delay` seconds
    until they pass or retry_for seconds have gone by (a site coming back after a restore or a reload)."""
    deadline = clock() + retry_for
    results = [check(base_url, host, spec, timeout, php_version) for spec in specs]
    while any(not r["ok"] for r in results) and clock() + delay <= deadline:
        sleep(delay)
        results = [r if r["ok"] else check(base_url, host, spec, timeout, php_version)
                   for r, spec in zip(results, specs)]
    return results


def failures(results: list[dict[str, Any]]) -> list[str]:
    """'<path>: <reason>' for each failed URL."""
    return [f"{r['path'] or r['url']}: {r['reason']}" for r in results if not r["ok"]]


# The argument spec of the smoke options (documented in the bxops.bitrix.bitrix_smoke doc fragment).
SMOKE_OPTIONS: dict[str, Any] = dict(
    urls=dict(type="list", elements="dict", default=[], options=dict(
        path=dict(type="str", default="/"),
        status=dict(type="raw", default=200),
        marker=dict(type="str", default=""),
    )),
    base_url=dict(type="str", default=DEFAULT_BASE_URL),
    host_header=dict(type="str", default=""),
    timeout=dict(type="int", default=DEFAULT_TIMEOUT),
)


def specs_problem(specs: list[dict[str, Any]]) -> str | None:
    """The first unusable smoke URL spec, in words naming the option; None when all are fine."""
    for index, spec in enumerate(specs):
        problem = spec_problem(spec)
        if problem:
            return f"urls[{index}]: {problem}"
    return None

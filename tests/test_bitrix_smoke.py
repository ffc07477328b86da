"""The collection's one smoke test (module_utils/bitrix_smoke, module bitrix_smoke_test) against a real HTTP server
started here. Every page, status and marker is written out below; the expected results are written by hand."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from ansible_collections.bxops.bitrix.plugins.filter import update_gate
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_smoke as smoke

PROJECT = Path(__file__).resolve().parents[1]

# path -> (status, body, X-Powered-By or None, extra headers)
PAGES: dict[str, tuple[int, bytes, str | None, dict[str, str]]] = {
    "/": (200, b"<html>BXOPS-PAGE-OK home</html>", "PHP/8.2.7", {}),
    "/catalog/": (200, b"<html>catalogue without the marker</html>", "PHP/8.2.7", {}),
    "/broken.php": (500, b"<html>Internal Server Error</html>", "PHP/8.2.7", {}),
    "/fatal.php": (200, b"<br />\n<b>Fatal error</b>:  Uncaught Error: Call to undefined function each()",
                   "PHP/8.2.7", {}),
    "/old.php": (200, b"<html>BXOPS-PAGE-OK old</html>", "PHP/7.4.33", {}),
    "/moved": (302, b"", None, {"Location": "/"}),
}


class Handler(BaseHTTPRequestHandler):
    hosts: ClassVar[list[str | None]] = []
    flaky_left: ClassVar[int] = 0

    def do_GET(self) -> None:
        Handler.hosts.append(self.headers.get("Host"))
        if self.path == "/flaky":
            if Handler.flaky_left > 0:
                Handler.flaky_left -= 1
                page = (503, b"restarting", None, {})
            else:
                page = (200, b"back", None, {})
        else:
            page = PAGES.get(self.path, (404, b"not here", None, {}))
        status, body, powered, extra = page
        self.send_response(status)
        if powered:
            self.send_header("X-Powered-By", powered)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    Handler.hosts = []
    Handler.flaky_left = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("spec", "ok", "status", "reason"),
    [
        ({"path": "/", "status": 200, "marker": "BXOPS-PAGE-OK home"}, True, 200, "status 200, marker found"),
        ({"path": "/", "status": 200, "marker": ""}, True, 200, "status 200"),
        ({"path": "/catalog/", "status": 200, "marker": "BXOPS-PAGE-OK catalog"}, False, 200,
         "marker 'BXOPS-PAGE-OK catalog' not found"),
        ({"path": "/broken.php", "status": 200, "marker": ""}, False, 500, "status 500, expected 200"),
        ({"path": "/broken.php", "status": [200, 500]}, True, 500, "status 500"),
        ({"path": "/fatal.php"}, False, 200, "the page shows a PHP/DB error"),
        ({"path": "/moved", "status": 200}, False, 302, "status 302, expected 200"),  # never followed
        ({"path": "/moved", "status": 302}, True, 302, "status 302"),
        ({"path": "/nothing", "status": 200, "marker": "x"}, False, 404,
         "status 404, expected 200; marker 'x' not found"),
    ],
)
def test_each_page_is_judged_with_a_reason_in_plain_words(server: str, spec: dict, ok: bool, status: int,
                                                          reason: str) -> None:
    result = smoke.check(server, "shop.example.test", spec, timeout=5)
    assert (result["ok"], result["status"], result["reason"]) == (ok, status, reason)
    assert result["url"] == server + spec["path"]
    assert Handler.hosts == ["shop.example.test"]  # asked for the site, not for 127.0.0.1


def test_a_page_from_another_php_fails_when_a_version_is_asked(server: str) -> None:
    old = smoke.check(server, None, {"path": "/old.php", "marker": "BXOPS-PAGE-OK old"}, 5, php_version="8.2")
    assert not old["ok"]
    assert old["reason"] == "served by PHP/7.4.33, not PHP 8.2"
    new = smoke.check(server, None, {"path": "/", "marker": "BXOPS-PAGE-OK home"}, 5, php_version="8.2")
    assert new["ok"] and new["x_powered_by"] == "PHP/8.2.7"
    assert Handler.hosts == [f"127.0.0.1:{server.rsplit(':', 1)[1]}"] * 2  # no Host given: the URL's own


def test_nothing_listening_is_a_failure_that_says_so() -> None:
    result = smoke.check(f"http://127.0.0.1:{_free_port()}", "shop.example.test", {"path": "/"}, timeout=5)
    assert result["ok"] is False and result["status"] is None
    assert result["reason"].startswith("no answer: ") and "refused" in result["reason"].lower()


def test_a_proxy_in_the_environment_is_not_used(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{_free_port()}")  # nobody there
    monkeypatch.setenv("no_proxy", "")
    assert smoke.check(server, None, {"path": "/"}, timeout=5)["status"] == 200


def test_an_empty_path_asks_for_the_base_url_itself(server: str) -> None:
    result = smoke.check(server + "/catalog/", None, {"path": "", "status": 200}, timeout=5)
    assert result["url"] == server + "/catalog/" and result["ok"]
    assert smoke.failures([dict(result, ok=False, reason="status 500, expected 200")]) == [
        server + "/catalog/: status 500, expected 200"]


def test_failing_pages_are_asked_again_until_they_serve(server: str) -> None:
    Handler.flaky_left = 2
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    results = smoke.check_all(server, None, [{"path": "/"}, {"path": "/flaky"}], timeout=5, retry_for=30,
                              delay=3, clock=lambda: now[0], sleep=sleep)
    assert [r["ok"] for r in results] == [True, True]
    assert slept == [3, 3]
    assert Handler.hosts.count(None) == 0 and len(Handler.hosts) == 4  # "/" once, "/flaky" three times


def test_retries_stop_when_the_time_is_up(server: str) -> None:
    Handler.flaky_left = 100
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    results = smoke.check_all(server, None, [{"path": "/flaky"}], timeout=5, retry_for=10, delay=3,
                              clock=lambda: now[0], sleep=sleep)
    assert slept == [3, 3, 3]  # at 0, 3, 6, 9 s; a fifth try would start after 10 s
    assert smoke.failures(results) == ["/flaky: status 503, expected 200"]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"path": "catalog/"}, "path must be empty or start with /"),
        ({"path": "/a b"}, "path must be empty or start with /"),
        ({"path": "/", "status": 999}, "status must be an HTTP status"),
        ({"path": "/", "status": "ok"}, "status must be an HTTP status"),
        ({"path": "/", "status": []}, "status must be an HTTP status"),
        ({"path": "/", "url": "/x"}, "unknown keys ['url']"),
        ("/", "is not a dict"),
    ],
)
def test_an_unusable_url_is_refused_naming_it(spec: object, words: str) -> None:
    problem = smoke.specs_problem([{"path": "/"}, spec])  # type: ignore[list-item]
    assert problem is not None and problem.startswith("urls[1]: ") and words in problem


def _run_module(args: dict, check: bool = False) -> dict:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_PYTHON_INTERPRETER="auto_silent")
    argv = ["ansible", "localhost", "-c", "local", "-m", "bxops.bitrix.bitrix_smoke_test", "-a", json.dumps(args)]
    proc = subprocess.run(argv + (["--check"] if check else []), env=env, text=True, capture_output=True,
                          timeout=120, cwd=PROJECT)
    out = json.loads(proc.stdout)
    return out["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_the_module_fails_naming_each_failed_page_and_why(server: str) -> None:
    result = _run_module({"urls": [{"path": "/", "marker": "BXOPS-PAGE-OK home"},
                                   {"path": "/broken.php"},
                                   {"path": "/catalog/", "marker": "BXOPS-PAGE-OK catalog"}],
                          "base_url": server, "host_header": "shop.example.test"})
    assert result["failed"] is True
    assert result["msg"] == ("smoke test failed: /broken.php: status 500, expected 200; "
                             "/catalog/: marker 'BXOPS-PAGE-OK catalog' not found")
    assert result["failures"] == ["/broken.php: status 500, expected 200",
                                  "/catalog/: marker 'BXOPS-PAGE-OK catalog' not found"]
    assert [r["status"] for r in result["results"]] == [200, 500, 200]
    assert Handler.hosts == ["shop.example.test"] * 3


def test_the_module_passes_in_check_mode_without_changing_anything(server: str) -> None:
    result = _run_module({"urls": [{"path": "/", "marker": "BXOPS-PAGE-OK home"}], "base_url": server,
                          "php_version": "8.2"}, check=True)
    assert result.get("failed") is not True and result["changed"] is False
    assert result["passed"] is True and result["failures"] == []
    assert result["results"][0]["reason"] == "status 200, marker found"


def test_the_module_refuses_a_bad_url_before_any_request(server: str) -> None:
    result = _run_module({"urls": [{"path": "catalog/"}], "base_url": server})
    assert result["failed"] is True and result["msg"].startswith("urls[0]: ")
    assert Handler.hosts == []


def test_the_update_roles_smoke_test_is_this_module_plus_the_updates_info_checks(server: str, tmp_path: Path) -> None:
    """The update role's smoke test: bitrix_smoke_test's URL results and bitrix_updates_info's checks (new PHP
    fatal errors since the offsets, versions on disk against the plan) become one check list and the message
    the update role (and its molecule scenario) reads: '<check> <path>: <detail>'."""
    version = tmp_path / "bitrix" / "modules" / "main" / "classes" / "general" / "version.php"
    version.parent.mkdir(parents=True)
    version.write_text('<?php\ndefine("SM_VERSION", "25.100.300");\ndefine("SM_VERSION_DATE", "2026-01-01");\n')
    log = tmp_path / "error.log"
    before = "PHP Fatal error:  old, before the update\n"
    log.write_text(before + "PHP Fatal error:  Uncaught Error: Call to undefined function each()\n")
    pages = _run_module({"base_url": server, "host_header": "shop.example.test",
                         "urls": [{"path": "/", "marker": "BXOPS-PAGE-OK home"}, {"path": "/broken.php"}]})
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_PYTHON_INTERPRETER="auto_silent")
    args = {"gather": ["checks"], "docroot": str(tmp_path), "logs": [str(log)],
            "log_offsets": {str(log): len(before)}, "plan": {"main": "25.100.400"}}
    proc = subprocess.run(["ansible", "localhost", "-c", "local", "-m", "bxops.bitrix.bitrix_updates_info",
                           "-a", json.dumps(args), "--check"], env=env, text=True, capture_output=True, timeout=120,
                          cwd=PROJECT)
    info = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert info.get("failed") is not True and info["changed"] is False and info["passed"] is False
    checks = update_gate.smoke_checks(pages["results"], info["checks"])
    assert [(c["check"], c.get("path"), c["ok"]) for c in checks] == [
        ("url", "/", True), ("url", "/broken.php", False), ("log", str(log), False), ("versions", None, False)]
    assert update_gate.smoke_message(checks) == (
        "smoke test failed: url /broken.php: status 500, expected 200; "
        f"log {log}: 1 new PHP fatal error(s): "
        "['PHP Fatal error:  Uncaught Error: Call to undefined function each()']; "
        "versions : not as planned: {'main': {'planned': '25.100.400', 'on_disk': '25.100.300'}}")
    assert update_gate.smoke_message(checks[:1]) == ""
    assert Handler.hosts == ["shop.example.test"] * 2

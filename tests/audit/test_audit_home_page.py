"""bitrix_audit's home-page check against a real HTTP server: status, size, the site's Host header."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_audit as audit

PAGE = b"<html><body>" + b"x" * 4000 + b"</body></html>"  # 12 + 4000 + 14 = 4026 bytes


class Handler(BaseHTTPRequestHandler):
    hosts: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        Handler.hosts.append(self.headers.get("Host"))
        if self.path == "/missing":
            self.send_response(404)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"gone\n")
            return
        if self.path == "/old":  # a moved home page: the audit follows it, as a visitor does
            self.send_response(301)
            self.send_header("Location", "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    Handler.hosts = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_home_page_reports_status_and_size_and_asks_for_the_site(server: str) -> None:
    result = audit._home_page(server + "/", "shop.example.test", 5)
    assert result["status"] == 200
    assert result["bytes"] == 4026
    assert result["response_ms"] is not None and result["response_ms"] >= 0
    assert Handler.hosts == ["shop.example.test"]


def test_home_page_reports_an_http_error_status(server: str) -> None:
    result = audit._home_page(server + "/missing", None, 5)
    assert result["status"] == 404
    assert result["bytes"] == 5  # the error page's own body, b"gone\n"


def test_home_page_follows_a_redirect_like_a_visitor(server: str) -> None:
    result = audit._home_page(server + "/old", "shop.example.test", 5)
    assert (result["status"], result["bytes"]) == (200, 4026)


def test_home_page_reports_an_unreachable_server_without_failing() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = audit._home_page(f"http://127.0.0.1:{port}/", None, 5)
    assert result["status"] is None
    assert result["error"]
    assert result["response_ms"] is None

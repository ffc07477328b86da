"""Infrastructure from the client's Prometheus (its HTTP API, served here by a small fake that answers
as Prometheus does), and the fall-back to the audit reports when it cannot be read."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from .conftest import MONTH, ReportSpace

GIB = 1024**3
DAY1 = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
DAY2 = datetime(2026, 11, 15, tzinfo=UTC).timestamp()


def vector(value: float) -> list[dict[str, Any]]:
    return [{"metric": {"site": "web1"}, "value": [DAY2, str(value)]}]


def matrix(first: float, second: float) -> list[dict[str, Any]]:
    return [{"metric": {"site": "web1"}, "values": [[DAY1, str(first)], [DAY2, str(second)]]}]


def answer(path: str, query: str) -> dict[str, Any]:
    """What Prometheus would answer for each of the report's queries (by what the query reads)."""
    if path.endswith("/query_range"):
        if "probe_duration_seconds" in query:
            result = matrix(200.0, 300.0)
        elif "bitrix_db_size_bytes" in query:
            result = matrix(2 * GIB, 3 * GIB)
        else:
            result = matrix(30 * GIB, 44 * GIB)
        return {"status": "success", "data": {"resultType": "matrix", "result": result}}
    if "probe_success" in query:
        result = vector(99.5)
    elif "quantile_over_time(0.5," in query:
        result = vector(210.0)
    elif "quantile_over_time(0.95," in query:
        result = vector(850.0)
    elif "avail_bytes" in query:
        result = vector(56 * GIB)
    else:
        result = vector(100 * GIB)
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


@pytest.fixture
def prometheus() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            query = parse_qs(parsed.query)["query"][0]
            seen.append(query)
            body = json.dumps(answer(parsed.path, query)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def report(space: ReportSpace) -> tuple[dict[str, Any], str]:
    done = space.cli("report", "demo", "--month", str(MONTH), "--format", "json,html", "--lang", "ru")
    assert done.returncode == 0, done.stderr
    folder = space.client_dir / "monthly-reports" / str(MONTH)
    return json.loads((folder / "report-ru.json").read_text()), (folder / "report-ru.html").read_text()


def test_infrastructure_from_prometheus(space: ReportSpace, prometheus: tuple[str, list[str]]) -> None:
    url, seen = prometheus
    (space.client_dir / "monitoring.yml").write_text(f"prometheus:\n  url: {url}\n")
    document, html = report(space)
    infra = document["infrastructure"]
    assert infra["source"] == "prometheus" and infra["fallback_from"] == []
    [web1] = infra["hosts"]
    assert web1["host"] == "web1"
    assert web1["uptime_percent"] == 99.5
    assert (web1["response_median_ms"], web1["response_p95_ms"]) == (210.0, 850.0)
    assert web1["db_bytes"] == 3 * GIB and web1["db_trend_bytes"] == GIB
    assert web1["disk_used_bytes"] == 44 * GIB and web1["disk_free_bytes"] == 56 * GIB
    # 14 GB in 14 days: 1 GB a day, 56 GB free → 56 days
    assert {"host": "web1", "bytes_per_day": GIB, "days_until_full": 56} in document["next_steps"]["disk_forecast"]
    assert all('client="demo"' in query for query in seen) and len(seen) == 8
    assert "мониторинг (Prometheus)" in html


def test_unreachable_prometheus_falls_back_to_the_audits(space: ReportSpace) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (space.client_dir / "monitoring.yml").write_text(f"prometheus:\n  url: http://127.0.0.1:{port}\n")
    document, html = report(space)
    infra = document["infrastructure"]
    assert infra["source"] == "audit" and infra["fallback_from"] == ["prometheus unavailable (ConnectError)"]
    assert {h["host"] for h in infra["hosts"]} == {"bxops-demo-production", "bxops-demo-staging"}
    assert "Данные мониторинга сейчас недоступны" in html


def test_without_monitoring_the_audits_are_the_source(space: ReportSpace, tmp_path: Path) -> None:
    document, html = report(space)
    assert document["infrastructure"]["source"] == "audit"
    assert "отчёты аудита" in html and "Данные мониторинга" not in html

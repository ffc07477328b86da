#!/usr/bin/env python3
"""Test receiver for Alertmanager's webhook: stores each POST body (and its Authorization header) as
<dir>/<n>.json. Usage: bxops-webhook-sink ADDRESS PORT DIR"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

OUT = Path(sys.argv[3])


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        number = len(list(OUT.glob("*.json"))) + 1
        record = {"path": self.path, "authorization": self.headers.get("Authorization", ""),
                  "payload": json.loads(body)}
        tmp = OUT / f".{number}.tmp"
        tmp.write_text(json.dumps(record))
        tmp.rename(OUT / f"{number:05d}.json")
        self.send_response(200)
        self.end_headers()


OUT.mkdir(parents=True, exist_ok=True)
HTTPServer((sys.argv[1], int(sys.argv[2])), Sink).serve_forever()

"""For tests that run the real hey: the binary check and a small items API on loopback."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


def require_hey() -> str:
    """The hey binary; skipped without it, but a failure under LAB_REQUIRE_DOCKER=1 (CI)."""
    path = shutil.which("hey")
    if path is None:
        if os.environ.get("LAB_REQUIRE_DOCKER") == "1":
            pytest.fail(
                "LAB_REQUIRE_DOCKER=1 but hey is not installed (apt-get install -y hey)", pytrace=False
            )
        pytest.skip("hey is not installed (apt-get install -y hey)")
    return path


@dataclass
class ItemsApi:
    """POST /items stores {"name"} (201), GET /items lists newest first in pages (Link: next)."""

    url: str = ""
    items: list[dict[str, str]] = field(default_factory=list)  # oldest first
    delay_s: float = 0.0
    status: int = 0  # answer every request with this status when set
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, created: float | None = None) -> dict[str, str]:
        stamp = datetime.fromtimestamp(created or time.time(), UTC).isoformat().replace("+00:00", "Z")
        item = {"id": uuid.uuid4().hex, "name": name, "created_at": stamp}
        with self.lock:
            self.items.append(item)
        return item


def _handler(api: ItemsApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if api.delay_s:
                time.sleep(api.delay_s)
            if api.status:
                self._send(api.status, {"error": "configured"})
                return
            self._send(201, api.add(json.loads(raw)["name"]))

        def do_GET(self) -> None:
            if api.delay_s:
                time.sleep(api.delay_s)
            if api.status:
                self._send(api.status, {"error": "configured"})
                return
            query = self.path.partition("?")[2]
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            limit, offset = int(params.get("limit", 50)), int(params.get("offset", 0))
            with api.lock:
                newest_first = list(reversed(api.items))
            page = newest_first[offset : offset + limit]
            headers = {}
            if offset + limit < len(newest_first):
                headers["Link"] = f'</items?limit={limit}&offset={offset + limit}>; rel="next"'
            self._send(200, page, headers)

    return Handler


@contextmanager
def items_api(**settings: object) -> Iterator[ItemsApi]:
    api = ItemsApi(**settings)  # type: ignore[arg-type]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

"""The lab's Alertmanager webhook receiver: one JSON log line per alert in each notification.

Alertmanager (services/config/alertmanager/alertmanager.yml) posts every notification here; the
lines go to the container log, so `srelab logs alert-sink` and Loki show what would have paged
someone. GET /alerts returns the last notifications received (newest last) and GET /healthz
answers 200. Standard library only: it runs on the web image's Python, read-only, as a non-root
user, on the monitoring network alone.
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 1 << 20  # Alertmanager sends at most max_alerts (50) per notification
KEEP = 200  # notifications kept for GET /alerts

received: deque[dict[str, Any]] = deque(maxlen=KEEP)


def log(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def summarise(notification: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """One record per alert of an Alertmanager webhook notification (version 4 payload)."""
    records = []
    for alert in notification.get("alerts") or []:
        labels = alert.get("labels") or {}
        records.append(
            {
                "ts": round(now, 3),
                "event": "alert",
                "status": alert.get("status"),
                "alertname": labels.get("alertname"),
                "severity": labels.get("severity"),
                "labels": labels,
                "startsAt": alert.get("startsAt"),
                "endsAt": alert.get("endsAt"),
                "receiver": notification.get("receiver"),
                "summary": (alert.get("annotations") or {}).get("summary"),
            }
        )
    return records


class Handler(BaseHTTPRequestHandler):
    server_version = "srelab-alert-sink"

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, {"status": "ok"})
        elif self.path == "/alerts":
            self._reply(200, list(received))
        else:
            self._reply(404, {"error": "not found", "reason": "GET /alerts or /healthz"})

    def do_POST(self) -> None:
        if self.path != "/alerts":
            self._reply(404, {"error": "not found", "reason": "POST /alerts"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._reply(400, {"error": "bad request", "reason": f"Content-Length must be 1..{MAX_BODY}"})
            return
        try:
            notification = json.loads(self.rfile.read(length))
            if not isinstance(notification, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            self._reply(400, {"error": "bad request", "reason": f"not an Alertmanager notification: {exc}"})
            return
        now = time.time()
        received.append({"ts": now, "notification": notification})
        for record in summarise(notification, now):
            log(record)
        self._reply(200, {"status": "received"})

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per alert (above), not one per HTTP request


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9095
    log({"ts": round(time.time(), 3), "event": "listening", "port": port})
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


if __name__ == "__main__":
    main()

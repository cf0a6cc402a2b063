"""srelab/chaos/annotate.py against real HTTP servers on 127.0.0.1 (no Grafana, no Loki needed).

A fake Loki answers /ready and records each push (python-logging-loki's JSON push body); it can
also hang on the push, as a Loki that accepts connections and never answers does. Grafana points
at a closed port, so only Loki is used.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from srelab.chaos import annotate
from srelab.chaos.annotate import LOGGER_NAME, Annotator
from srelab.stack.settings import Settings, get_settings

# The Loki stream labels python-logging-loki 0.3.1 sends: our tags, plus severity and logger
# (logging_loki/const.py level_tag, logger_tag; emitter.py build_tags). Grafana's chaos dashboard
# relies on these (tests/observability/test_grafana.py CHAOS_RUNNER_LABELS).
STREAM_LABELS = {"service", "experiment", "event", "severity", "logger"}
HANG_S = 4.0


class FakeLoki:
    def __init__(self, hang: bool = False) -> None:
        self.pushes: list[dict[str, Any]] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(200 if self.path == "/ready" else 404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.pushes.append(json.loads(self.rfile.read(length)))
                if hang:
                    outer.release.wait(HANG_S)  # never answers in time
                self._answer(204)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def loki() -> Iterator[type[FakeLoki]]:
    servers: list[FakeLoki] = []

    def make(**kw: Any) -> FakeLoki:
        servers.append(FakeLoki(**kw))
        return servers[-1]

    yield make  # type: ignore[misc]
    for server in servers:
        server.close()


def settings_for(server: FakeLoki) -> Settings:
    return get_settings().model_copy(
        update={"lab_bind": "127.0.0.1", "lab_loki_port": server.port, "lab_grafana_port": closed_port()}
    )


def annotator(server: FakeLoki, run_id: str, timeout_s: float = 0.5) -> tuple[Annotator, list[str]]:
    said: list[str] = []
    ann = Annotator(settings_for(server), "kill-one-replica", run_id, say=said.append, timeout_s=timeout_s)
    ann.probe()
    assert ann.status["loki"].startswith("event lines to"), ann.status
    return ann, said


def test_a_hung_loki_push_is_bounded_by_the_timeout(loki: Any) -> None:
    server = loki(hang=True)
    ann, said = annotator(server, "run-1", timeout_s=0.3)
    started = time.monotonic()
    ann.event(time.time(), "kill web-a", ["fault", "kill"], fields={"service": "web-a"})
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"one event took {elapsed:.1f} s against a Loki that never answers"
    assert len(server.pushes) == 1
    assert "failed" in ann.status["loki"] and any("Loki" in line for line in said)
    # Once failed, Loki is left alone for the rest of the run: no second wait.
    started = time.monotonic()
    ann.event(time.time(), "restore web-a", ["restore", "kill"])
    assert time.monotonic() - started < 0.2 and len(server.pushes) == 1
    assert ann.sent["loki"] == 0


def test_every_run_pushes_to_the_same_stream_with_the_run_id_in_the_line(loki: Any) -> None:
    server = loki()
    for run_id in ("20260822T100000-aaaa", "20260822T110000-bbbb"):
        ann, _ = annotator(server, run_id)
        ann.event(
            time.time(), "kill web-a: stopped", ["fault", "kill"], fields={"service": "web-a", "ok": True}
        )
        assert ann.sent["loki"] == 1
    streams = [push["streams"] for push in server.pushes]
    assert [len(s) for s in streams] == [1, 1], "one push per event, one stream per push"
    labels = [s[0]["stream"] for s in streams]
    assert labels[0] == labels[1], f"each run made a new Loki stream: {labels}"
    assert set(labels[0]) == STREAM_LABELS
    assert labels[0]["logger"] == LOGGER_NAME and labels[0]["service"] == "srelab-chaos"
    for stream, run_id in zip(streams, ("20260822T100000-aaaa", "20260822T110000-bbbb"), strict=True):
        assert all(run_id not in str(v) for v in stream[0]["stream"].values()), "run id in a label"
        ((_, line),) = stream[0]["values"]
        assert logfmt(line)["run_id"] == run_id, line


def test_runs_in_one_process_do_not_push_each_line_twice(loki: Any) -> None:
    server = loki()
    for n in range(3):
        ann, _ = annotator(server, f"run-{n}")
        ann.event(time.time(), "pause web-b", ["fault", "pause"])
    assert len(server.pushes) == 3


def logfmt(line: str) -> dict[str, str]:
    """A minimal logfmt reader (key=value, value bare or double-quoted with backslash escapes)."""
    pairs = re.findall(r'(\w+)=("(?:\\.|[^"\\])*"|\S*)', line)
    assert " ".join(f"{k}={v}" for k, v in pairs) == line, f"not logfmt: {line}"
    return {k: json.loads(v) if v.startswith('"') else v for k, v in pairs}


def test_event_line_is_logfmt_with_the_message_first() -> None:
    line = annotate.event_line("r-1", 'kill web-a: "gone"\nnext', {"service": "web-a", "ok": False})
    assert line.startswith("msg=")
    assert logfmt(line) == {
        "msg": 'kill web-a: "gone"\nnext',
        "run_id": "r-1",
        "service": "web-a",
        "ok": "False",
    }
    assert annotate.event_line("r-2", "restore", None) == "msg=restore run_id=r-2"


def test_timeout_session_applies_its_timeout_unless_given_one(loki: Any) -> None:
    server = loki(hang=True)
    session = annotate.TimeoutSession(0.2)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        session.post(f"http://127.0.0.1:{server.port}/loki/api/v1/push", json={"streams": []})
    assert time.monotonic() - started < 2.0

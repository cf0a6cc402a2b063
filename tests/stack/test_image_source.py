"""LAB_IMAGES=auto: the decision from plain probe results, the probe against real HTTP servers on
loopback, and the real probe of Docker Hub from this machine."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from srelab.stack.image_source import REGISTRY_PROBE_URL, Probe, decide, probe_registry, resolve
from srelab.stack.settings import get_settings


def _never(*_: object) -> Probe:
    raise AssertionError("a forced LAB_IMAGES must not probe")


@pytest.mark.parametrize(
    ("requested", "mode"), [("local", "local"), ("registry", "registry"), ("upstream", "registry")]
)
def test_forced_source_is_used_without_probing(requested: str, mode: str) -> None:
    decision = decide(requested, _never)
    assert decision.mode == mode
    assert decision.line() == f"images: {mode} (LAB_IMAGES={requested})"


def test_auto_pulls_when_the_registry_answers_and_builds_when_not() -> None:
    pulled = decide("auto", lambda: Probe(True, "registry-1.docker.io answered HTTP 401"))
    assert pulled.mode == "registry"
    assert "answered HTTP 401" in pulled.line() and "LAB_IMAGES=local" in pulled.line()
    built = decide(
        "auto", lambda: Probe(False, "registry-1.docker.io unreachable: its name does not resolve")
    )
    assert built.mode == "local"
    assert "does not resolve" in built.line() and "LAB_IMAGES=registry" in built.line()
    assert "\n" not in built.line() + pulled.line()


def test_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, registry or local"):
        decide("docker-hub", _never)


class _Registry(BaseHTTPRequestHandler):
    status = 401

    def do_GET(self) -> None:
        if self.path == "/slow/":
            time.sleep(3)
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer, path: str = "/v2/") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_probe_counts_401_and_200_as_answering(http_server: ThreadingHTTPServer) -> None:
    _Registry.status = 401
    port = http_server.server_address[1]
    assert probe_registry(_url(http_server)) == Probe(True, f"127.0.0.1:{port} answered HTTP 401")
    _Registry.status = 200
    assert probe_registry(_url(http_server)).answered
    # Something answers, but not a registry (a captive portal, a proxy's error page).
    _Registry.status = 503
    seen = probe_registry(_url(http_server))
    assert not seen.answered and "503" in seen.detail


def test_probe_gives_up_at_its_timeout(http_server: ThreadingHTTPServer) -> None:
    started = time.monotonic()
    seen = probe_registry(_url(http_server, "/slow/"), timeout_s=0.5)
    assert not seen.answered and "within 0.5 s" in seen.detail
    assert time.monotonic() - started < 2.5


def test_probe_of_a_closed_port_is_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        seen = probe_registry(f"http://127.0.0.1:{port}/v2/", timeout_s=1)
    assert not seen.answered and "connection refused" in seen.detail


def _docker_hub_reachable() -> bool:
    """An independent check of what the probe decides: can a TCP connection to it open?"""
    try:
        socket.create_connection(("registry-1.docker.io", 443), timeout=3).close()
    except OSError:
        return False
    return True


def test_the_real_probe_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """On this project's machines (no registry) auto must build locally; where Docker Hub is
    reachable it must pull. Either way within the probe's timeout, and exported for the process."""
    monkeypatch.setenv("LAB_IMAGES", "auto")
    started = time.monotonic()
    settings, decision = resolve(get_settings())
    assert time.monotonic() - started < 5
    expected = "registry" if _docker_hub_reachable() else "local"
    assert decision.mode == settings.lab_images == os.environ["LAB_IMAGES"] == expected, decision.line()
    if expected == "local":
        assert REGISTRY_PROBE_URL in decision.reason
        # Later settings in this process see the decision instead of probing again.
        assert get_settings().compose_environment()["TRAEFIK_IMAGE"].startswith("srelab-local/")

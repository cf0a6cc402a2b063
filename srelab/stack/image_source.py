"""Where `make up` gets its images: pulled from a registry, or built here (LAB_IMAGES).

LAB_IMAGES=auto (the default) probes the Docker Hub registry once per run with a short timeout
and builds locally when it does not answer; LAB_IMAGES=registry or local forces one. Nothing is
cached across runs: the probe costs a DNS lookup and at most one HTTPS round trip.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import requests

from srelab.stack.settings import Settings

# The registry API root: it answers 401 (a token is needed) when the registry is reachable.
REGISTRY_PROBE_URL = "https://registry-1.docker.io/v2/"
PROBE_TIMEOUT_S = 3.0
ANSWERING_STATUSES = frozenset({200, 401})

Mode = Literal["registry", "local"]


@dataclass(frozen=True)
class Probe:
    """The registry probe's outcome: did it answer, and what was seen (for the printed line)."""

    answered: bool
    detail: str


@dataclass(frozen=True)
class Decision:
    mode: Mode
    reason: str

    def line(self) -> str:
        return f"images: {self.mode} ({self.reason})"


def probe_registry(url: str = REGISTRY_PROBE_URL, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """One GET of the registry's /v2/ root; 401 or 200 means it answers."""
    try:
        response = requests.get(url, timeout=timeout_s, allow_redirects=False)
    except requests.Timeout:
        return Probe(False, f"{url} did not answer within {timeout_s:g} s")
    except requests.RequestException as exc:
        return Probe(False, f"{url} unreachable: {_root_cause(exc)}")
    host = url.split("/")[2]
    if response.status_code in ANSWERING_STATUSES:
        return Probe(True, f"{host} answered HTTP {response.status_code}")
    return Probe(False, f"{host} answered HTTP {response.status_code}, not a registry's 401")


def decide(requested: str, probe: Callable[[], Probe] = probe_registry) -> Decision:
    """The image source for LAB_IMAGES=`requested`; the probe only runs for `auto`."""
    if requested == "local":
        return Decision("local", "LAB_IMAGES=local")
    if requested in ("registry", "upstream"):
        return Decision("registry", f"LAB_IMAGES={requested}")
    if requested != "auto":
        raise ValueError(f"LAB_IMAGES={requested!r}: choose auto, registry or local")
    seen = probe()
    if seen.answered:
        return Decision("registry", f"{seen.detail}; LAB_IMAGES=local builds them here instead")
    return Decision("local", f"{seen.detail}; building them here. LAB_IMAGES=registry forces pulling")


def resolve(settings: Settings, probe: Callable[[], Probe] = probe_registry) -> tuple[Settings, Decision]:
    """Settings with lab_images decided, exported as LAB_IMAGES for the rest of this process
    (later get_settings() calls and child processes then agree without probing again)."""
    decision = decide(settings.lab_images, probe)
    os.environ["LAB_IMAGES"] = decision.mode
    return settings.model_copy(update={"lab_images": decision.mode}), decision


def _root_cause(exc: requests.RequestException) -> str:
    """A short reason for a failed request (its message nests several urllib3 errors)."""
    text = str(exc)
    for marker, reason in _CAUSES:
        if marker in text:
            return reason
    return type(exc).__name__


_CAUSES = (
    ("Failed to resolve", "its name does not resolve"),
    ("Name or service not known", "its name does not resolve"),
    ("Connection refused", "connection refused"),
    ("Network is unreachable", "network unreachable"),
    ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
    ("SSLError", "TLS handshake failed"),
    ("ProxyError", "the HTTPS proxy refused it"),
)

"""Build, start, stop and inspect the compose stack (python-on-whales only)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from python_on_whales import Container, DockerClient
from python_on_whales.exceptions import DockerException
from rich.console import Console
from rich.live import Live
from rich.table import Table

from srelab.errors import LabError, last_line
from srelab.stack.compose_model import services as compose_services
from srelab.stack.engine import compose_client, require_engine
from srelab.stack.images import build_local_images
from srelab.stack.settings import LOG_SHIPPERS, PROFILES, Settings


def resolve_profiles(names: Iterable[str]) -> tuple[str, ...]:
    """`core` -> (), `all` -> every profile, else the named ones; unknown names are an error."""
    chosen: list[str] = []
    for name in names:
        if name == "core":
            continue
        if name == "all":
            chosen.extend(p for p in PROFILES if p != "loadtest")
        elif name in PROFILES:
            chosen.append(name)
        else:
            raise LabError(f"unknown profile {name!r}: choose from core, all, {', '.join(PROFILES)}")
    return tuple(dict.fromkeys(chosen))


@dataclass(frozen=True)
class Plan:
    """What `up` starts, and what it skips because its image cannot be obtained here."""

    start: tuple[str, ...]
    skipped: dict[str, str]


def plan_services(
    settings: Settings, profiles: Sequence[str], host_problems: Mapping[str, str] | None = None
) -> Plan:
    """Every service of the profiles but the log shipper not chosen (LAB_LOG_SHIPPER); skipped:
    with LAB_IMAGES=local those with no local image or build, and those in `host_problems`
    (service -> why this host cannot run it), then whatever depends on a skipped one."""
    model = compose_services(settings, tuple(profiles))
    unchosen = set(LOG_SHIPPERS) - {settings.lab_log_shipper}
    wanted = {
        name: svc
        for name, svc in model.items()
        if (not svc.get("profiles") or set(svc["profiles"]) & set(profiles)) and name not in unchosen
    }
    skipped: dict[str, str] = {name: why for name, why in (host_problems or {}).items() if name in wanted}
    if settings.lab_images == "local":
        local = set(settings.compose_environment().values())
        for name, svc in wanted.items():
            if name not in skipped and "build" not in svc and svc.get("image") not in local:
                skipped[name] = "no local build and no registry to pull from (LAB_IMAGES=local)"
    # A service that needs a skipped one cannot start either.
    changed = True
    while changed:
        changed = False
        for name, svc in wanted.items():
            if name in skipped:
                continue
            needs = [dep for dep in (svc.get("depends_on") or {}) if dep in skipped]
            if needs:
                skipped[name] = f"depends on {', '.join(needs)}"
                changed = True
    return Plan(tuple(sorted(n for n in wanted if n not in skipped)), skipped)


class Stack:
    """The lab's compose project."""

    def __init__(
        self, settings: Settings, profiles: Sequence[str] = PROFILES, console: Console | None = None
    ) -> None:
        self.settings = settings
        self.profiles = tuple(profiles)
        self.console = console or Console()
        self.docker: DockerClient = compose_client(settings, self.profiles)

    # -- building -------------------------------------------------------------------------------
    def build(self, services: Sequence[str], force_local: bool = False) -> None:
        """Local base images when LAB_IMAGES=local, then the images compose builds (web, locust)."""
        require_engine(self.docker)
        if self.settings.lab_images == "local":
            build_local_images(self.settings, self.docker, self.console, force=force_local)
        model = compose_services(self.settings, self.profiles)
        # One build per image: the three web replicas share WEB_IMAGE.
        by_image: dict[str, str] = {}
        for name in services:
            svc = model[name]
            if "build" in svc:
                by_image.setdefault(svc["image"], name)
        for image, service in by_image.items():
            with self.console.status(f"building {image}") as status:
                tail: list[str] = []
                try:
                    for _, raw in self.docker.compose.build([service], stream_logs=True):
                        line = raw.decode(errors="replace").strip()
                        if line:
                            tail = [*tail[-4:], line]
                            if line.startswith("Step "):
                                status.update(f"building {image}: {line[:70]}")
                except DockerException as exc:
                    hint = "" if self.settings.lab_images == "local" else _NO_REGISTRY_HINT
                    raise LabError(
                        f"building {image} failed: {' | '.join(tail) or last_line(exc)}{hint}"
                    ) from None

    # -- lifecycle ------------------------------------------------------------------------------
    def up(self, services: Sequence[str], timeout_s: int = 240) -> float:
        """`compose up --wait` for `services`, with a live health table; returns seconds taken."""
        started = time.monotonic()
        outcome: dict[str, BaseException | None] = {"error": None}

        def run() -> None:
            try:
                self.docker.compose.up(
                    list(services),
                    detach=True,
                    wait=True,
                    wait_timeout=timeout_s,
                    pull="never" if self.settings.lab_images == "local" else "missing",
                    remove_orphans=False,
                    quiet=True,
                )
            except BaseException as exc:  # reported in the calling thread
                outcome["error"] = exc

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        with Live(
            self._health_table(services, started), console=self.console, refresh_per_second=2, transient=True
        ) as live:
            while worker.is_alive():
                worker.join(timeout=1.0)
                live.update(self._health_table(services, started))
        if outcome["error"] is not None:
            exc = outcome["error"]
            unhealthy = [
                f"{c.name}: {health_of(c)}"
                for c in self.containers()
                if health_of(c) not in ("healthy", "running")
            ]
            detail = f" (not healthy: {', '.join(unhealthy)})" if unhealthy else ""
            reason = last_line(exc)
            if self.settings.lab_images != "local" and _PULL_FAILURE.search(reason):
                raise LabError(f"pulling images failed: {reason}{_NO_REGISTRY_HINT}")
            raise LabError(f"stack did not become healthy: {reason}{detail}; see `make logs`")
        return time.monotonic() - started

    def down(self, volumes: bool = False) -> None:
        require_engine(self.docker)
        self.docker.compose.down(remove_orphans=True, volumes=volumes, timeout=20, quiet=True)

    def containers(self, services: Sequence[str] | None = None) -> list[Container]:
        return self.docker.compose.ps(services=list(services) if services else None, all=True)

    def logs(
        self, services: Sequence[str], follow: bool = True, tail: int = 100
    ) -> Iterable[tuple[str, bytes]]:
        return self.docker.compose.logs(list(services) or None, follow=follow, tail=str(tail), stream=True)

    # -- views ----------------------------------------------------------------------------------
    def _health_table(self, services: Sequence[str], started: float) -> Table:
        table = Table(title=f"waiting for healthy services ({time.monotonic() - started:.0f} s)")
        table.add_column("service")
        table.add_column("state")
        states: dict[str, str] = {}
        try:
            for c in self.containers():
                states[c.config.labels.get("com.docker.compose.service", "?")] = health_of(c)
        except DockerException:
            pass  # containers come and go while compose recreates them
        for name in services:
            state = states.get(name, "creating")
            style = "green" if state in ("healthy", "running") else "yellow"
            table.add_row(name, f"[{style}]{state}[/]")
        return table


# Appended to pull and build failures when images come from a registry.
_NO_REGISTRY_HINT = " (if no registry is reachable from here, LAB_IMAGES=local builds every image locally)"
# What the engine says when an image cannot be pulled (no registry, DNS, proxy, rate limit).
_PULL_FAILURE = re.compile(
    r"pull access denied|no such image|registry|dial tcp|no such host|TLS handshake|toomanyrequests",
    re.IGNORECASE,
)


def health_of(container: Container) -> str:
    """healthy / unhealthy / starting for containers with a healthcheck, else their status."""
    state = container.state
    if state.health is not None and state.status == "running":
        return str(state.health.status)
    return str(state.status)

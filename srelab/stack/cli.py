"""`srelab up | down | status | logs | images`: the stack's lifecycle commands."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from srelab.errors import LabError
from srelab.stack.engine import require_compose, require_engine
from srelab.stack.image_source import resolve as resolve_images
from srelab.stack.images import build_local_images
from srelab.stack.lifecycle import Stack, health_of, plan_services, resolve_profiles
from srelab.stack.secrets import ensure_secrets
from srelab.stack.settings import DEFAULT_PROFILES, PROFILES, SECRETS_ENV, get_settings
from srelab.stack.topology import switch as switch_topology

console = Console()

# Friendly names for published UIs; any other published port is listed by service name.
UI_PATHS = {
    "traefik:8081": "/items",
    "traefik:8080": "/dashboard/",
    "grafana:3000": "/",
    "prometheus:9090": "/",
    "alertmanager:9093": "/#/alerts",
    "kibana:5601": "/",
    "locust:8089": "/",
    "loki:3100": "/ready",
}

ProfileOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--profile",
        "-p",
        help="core, monitoring, elk, loadtest or all (repeatable); "
        f"default: {', '.join(DEFAULT_PROFILES)} beside the core",
    ),
]


def up(
    profile: ProfileOpt = None,
    timeout: Annotated[int, typer.Option(help="seconds to wait for healthy")] = 300,
    strict: Annotated[
        bool, typer.Option("--strict", help="fail instead of skipping a service this host cannot run (CI)")
    ] = False,
) -> None:
    """Build what is needed, start the stack, wait until every service is healthy, print URLs.

    Services whose image cannot be obtained, or that this host cannot run (Elasticsearch below
    vm.max_map_count 262144), are skipped with one line each saying why, unless --strict."""
    settings = get_settings()
    profiles = resolve_profiles(profile if profile else DEFAULT_PROFILES)
    started = time.monotonic()
    if added := ensure_secrets():
        where = SECRETS_ENV.relative_to(SECRETS_ENV.parents[1])
        console.print(f"{where}: added {', '.join(added)} (empty secrets filled at random)")
    require_compose(require_engine())
    settings, decision = resolve_images(settings)
    console.print(decision.line(), soft_wrap=True, highlight=False)
    stack = Stack(settings, profiles, console)
    plan = plan_services(settings, profiles, host_problems())
    by_reason: dict[str, list[str]] = {}
    for name, why in sorted(plan.skipped.items()):
        by_reason.setdefault(why, []).append(name)
    for why, names in by_reason.items():
        console.print(f"[yellow]skipped[/] {', '.join(names)}: {why}", soft_wrap=True, highlight=False)
    if strict and plan.skipped:
        names = ", ".join(sorted(plan.skipped))
        raise LabError(f"--strict: {len(plan.skipped)} service(s) cannot start here: {names}")
    stack.build(plan.start)
    switch_topology(settings, stack.docker, lambda line: console.print(line, soft_wrap=True, highlight=False))
    stack.up(plan.start, timeout_s=timeout)
    _print_status(stack)
    skipped = f"; skipped {len(plan.skipped)}: see above" if plan.skipped else ""
    console.print(
        f"[green]up[/] in {time.monotonic() - started:.0f} s "
        f"(images: {settings.lab_images}; profiles: {', '.join(profiles) or 'core'}{skipped})"
    )


def host_problems() -> dict[str, str]:
    """Services this host cannot run, with the fix: Elasticsearch needs vm.max_map_count."""
    from srelab.stack.host_checks import check_vm_max_map_count

    problem = check_vm_max_map_count()
    return {"elasticsearch": problem} if problem else {}


def down(
    volumes: Annotated[bool, typer.Option("--volumes", "-v", help="also delete data volumes")] = False,
) -> None:
    """Stop and remove the stack's containers (data volumes are kept unless --volumes)."""
    Stack(get_settings(), PROFILES, console).down(volumes=volumes)
    console.print("stack removed" + (" with its volumes" if volumes else "; data volumes kept"))


def status() -> None:
    """What runs, its health, and where (URLs on the loopback address)."""
    stack = Stack(get_settings(), PROFILES, console)
    require_engine(stack.docker)
    _print_status(stack)


def logs(
    services: Annotated[list[str] | None, typer.Argument(help="services (default: all)")] = None,
    follow: Annotated[bool, typer.Option("--follow/--no-follow")] = True,
    tail: int = 100,
) -> None:
    """Follow the stack's logs."""
    stack = Stack(get_settings(), PROFILES, console)
    require_engine(stack.docker)
    for source, line in stack.logs(services or [], follow=follow, tail=tail):
        stream = sys.stdout if source == "stdout" else sys.stderr
        stream.write(line.decode(errors="replace"))
        stream.flush()


def images(force: Annotated[bool, typer.Option(help="rebuild even if present")] = False) -> None:
    """Build the local images (debootstrap base, Traefik, Redis, Prometheus, exporter)."""
    settings = get_settings()
    docker = require_engine()
    built = build_local_images(settings, docker, console, force=force)
    console.print(f"built {len(built)} image(s)" + (f": {', '.join(built)}" if built else " (all present)"))


def _print_status(stack: Stack) -> None:
    containers = stack.containers()
    if not containers:
        console.print("no containers: run `make up`")
        return
    table = Table(title=f"srelab ({stack.settings.project})")
    table.add_column("service")
    table.add_column("state")
    table.add_column("published on", no_wrap=True)
    for container in sorted(containers, key=lambda c: c.name):
        service = container.config.labels.get("com.docker.compose.service", "?")
        state = health_of(container)
        style = "green" if state in ("healthy", "running") else "red"
        urls = []
        for port_proto, bindings in (container.network_settings.ports or {}).items():
            for binding in bindings or []:
                path = UI_PATHS.get(f"{service}:{port_proto.split('/')[0]}", "")
                urls.append(f"http://{binding['HostIp']}:{binding['HostPort']}{path}")
        table.add_row(service, f"[{style}]{state}[/]", "\n".join(sorted(urls)))
    console.print(table)


def register(app: typer.Typer) -> None:
    for command in (up, down, status, logs, images):
        app.command()(command)

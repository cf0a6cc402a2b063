"""Observability helpers for `make up`: where the UIs are, and the host check Elasticsearch needs.

The services themselves live in compose/monitoring.yaml and compose/elk.yaml; how each one is
verified is in docs/observability.md.
"""

from __future__ import annotations

from pathlib import Path

from srelab.settings import Settings

# Elasticsearch maps its index files into memory; below this many map areas it fails its
# bootstrap checks or dies under load (https://www.elastic.co/guide/en/elasticsearch/reference/
# current/vm-max-map-count.html).
ES_MIN_MAX_MAP_COUNT = 262144
MAX_MAP_COUNT_PATH = Path("/proc/sys/vm/max_map_count")


def endpoints(settings: Settings) -> list[tuple[str, str]]:
    """(name, URL) of every observability UI or API, on the loopback address from settings.

    Loki has no UI of its own: its URL is the readiness endpoint (logs are read in Grafana, and
    the chaos runner pushes to the same port).
    """
    return [
        ("Grafana", settings.url(settings.lab_grafana_port, "/")),
        ("Prometheus", settings.url(settings.lab_prometheus_port, "/")),
        ("Kibana", settings.url(settings.lab_kibana_port, "/")),
        ("Loki", settings.url(settings.lab_loki_port, "/ready")),
        ("Traefik dashboard", settings.url(settings.lab_dashboard_port, "/dashboard/")),
    ]


def check_vm_max_map_count(
    path: Path = MAX_MAP_COUNT_PATH, minimum: int = ES_MIN_MAX_MAP_COUNT
) -> str | None:
    """None when the kernel allows Elasticsearch enough memory map areas, else how to fix it.

    Reads this machine's kernel setting, which is the Docker Engine's when the engine runs here.
    Where the file does not exist (macOS, Windows: the engine runs in a VM that Docker Desktop
    already configures) there is nothing to check and None is returned.
    """
    try:
        current = int(path.read_text().strip())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return f"cannot read {path} ({exc}); Elasticsearch needs vm.max_map_count >= {minimum}"
    if current >= minimum:
        return None
    return (
        f"Elasticsearch needs vm.max_map_count >= {minimum}, this host has {current}.\n"
        f"  fix now:  sudo sysctl -w vm.max_map_count={minimum}\n"
        f"  keep it:  echo 'vm.max_map_count={minimum}' | sudo tee /etc/sysctl.d/99-elasticsearch.conf\n"
        "  or start without the elk profile: make up PROFILE=monitoring"
    )

"""The host check Elasticsearch needs: `make up` skips the elk services on a host that fails it.

The URLs `make up` prints come from the running containers' published ports (srelab/stack/cli.py).

The services themselves live in compose/monitoring.yaml and compose/elk.yaml; how each one is
verified is in docs/observability.md.
"""

from __future__ import annotations

from pathlib import Path

# Elasticsearch maps its index files into memory; below this many map areas it fails its
# bootstrap checks or dies under load (https://www.elastic.co/guide/en/elasticsearch/reference/
# current/vm-max-map-count.html).
ES_MIN_MAX_MAP_COUNT = 262144
MAX_MAP_COUNT_PATH = Path("/proc/sys/vm/max_map_count")


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
    # One line: `srelab up` prints it beside the other services it had to skip.
    return (
        f"vm.max_map_count is {current}, Elasticsearch needs >= {minimum}: "
        f"sudo sysctl -w vm.max_map_count={minimum} "
        f"(keep it: echo 'vm.max_map_count={minimum}' | sudo tee /etc/sysctl.d/99-elasticsearch.conf)"
    )

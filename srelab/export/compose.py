"""A typed view over one resolved compose service: the keys the export reads, with compose's
"absent or null" folded into an empty value, so callers need no `(svc.get(k) or {})` chains."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from srelab.stack.compose_model import ROLE_LABEL, ZONE_LABEL

# Values compose writes for a key that sets nothing; the summary lists only keys that set something.
EMPTY: tuple[Any, ...] = (None, [], {}, "")


@dataclass(frozen=True, eq=False)
class ComposeService(Mapping[str, Any]):
    """Still a mapping (svc["image"], svc.get(...), iteration), so the dict's own keys stay reachable."""

    name: str
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    @property
    def labels(self) -> dict[str, str]:
        return self.raw.get("labels") or {}

    @property
    def environment(self) -> dict[str, Any]:
        return self.raw.get("environment") or {}

    @property
    def image(self) -> str | None:
        return self.raw.get("image")

    @property
    def hostname(self) -> str | None:
        return self.raw.get("hostname")

    @property
    def user(self) -> str:
        return str(self.raw.get("user") or "")

    @property
    def stop_grace_period(self) -> str | int | float | None:
        return self.raw.get("stop_grace_period")

    @property
    def working_dir(self) -> str:
        return self.raw.get("working_dir") or "/"

    @property
    def healthcheck(self) -> dict[str, Any]:
        return self.raw.get("healthcheck") or {}

    @property
    def networks(self) -> dict[str, Any]:
        return self.raw.get("networks") or {}

    @property
    def volumes(self) -> list[dict[str, Any]]:
        return self.raw.get("volumes") or []

    @property
    def secrets(self) -> list[Any]:
        return self.raw.get("secrets") or []

    @property
    def command(self) -> list[str]:
        return [str(c) for c in self.raw.get("command") or []]

    @property
    def entrypoint(self) -> list[str]:
        return [str(c) for c in self.raw.get("entrypoint") or []]

    @property
    def tmpfs(self) -> list[str]:
        return self.raw.get("tmpfs") or []

    @property
    def profiles(self) -> list[str]:
        return list(self.raw.get("profiles") or [])

    @property
    def limits(self) -> dict[str, Any]:
        """deploy.resources.limits."""
        return ((self.raw.get("deploy") or {}).get("resources") or {}).get("limits") or {}

    @property
    def role(self) -> str | None:
        return self.labels.get(ROLE_LABEL)

    @property
    def zone(self) -> str | None:
        return self.labels.get(ZONE_LABEL)

    @property
    def addresses(self) -> list[str]:
        """Fixed addresses on compose networks (ipv4_address, ipv6_address)."""
        out = []
        for net in self.networks.values():
            for key in ("ipv4_address", "ipv6_address"):
                if (net or {}).get(key):
                    out.append(str(net[key]))
        return out

    @property
    def aliases(self) -> set[str]:
        """The names other containers reach it by: its service name and its network aliases."""
        names = {self.name}
        for net in self.networks.values():
            names |= set((net or {}).get("aliases") or [])
        return names

    @property
    def set_keys(self) -> list[str]:
        """The keys that set something, in compose's order."""
        return [k for k, v in self.raw.items() if v not in EMPTY]

    def flag(self, prefix: str, default: str) -> str:
        """The value of the first command argument `prefix=value` (--config.file=...), else default."""
        return next((c.split("=", 1)[1] for c in self.command if c.startswith(prefix + "=")), default)

    def bind_mount(self, container_path: str) -> dict[str, Any] | None:
        """The bind mount that provides a path inside the container (None when not mounted)."""
        for vol in self.volumes:
            target = vol.get("target", "")
            if vol.get("type") == "bind" and (
                container_path == target or container_path.startswith(target.rstrip("/") + "/")
            ):
                return vol
        return None

    def host_path(self, container_path: str) -> str | None:
        """The bind-mount source behind a path inside the container (None when not mounted)."""
        vol = self.bind_mount(container_path)
        if vol is None:
            return None
        relative = container_path[len(vol["target"]) :].lstrip("/")
        return vol["source"] + ("/" + relative if relative else "")


def view(services: Mapping[str, Mapping[str, Any]]) -> dict[str, ComposeService]:
    return {name: ComposeService(name, svc) for name, svc in services.items()}

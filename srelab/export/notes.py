"""What the export made of each compose key: one source for CONVERSION.md and the CLI table.

The builder (model.py) records a Note where it maps a key, so the text that says what a key
became sits next to the code that does it; summary.py only lays the recorded notes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAPPED, REPLACED, DROPPED, NOT_EXPORTED, REVIEW = "mapped", "replaced", "dropped", "not exported", "review"
# The row that describes a compose service as a whole (stand-ins, extra HA pods, left-out profiles).
SERVICE_KEY = "(service)"
REVIEW_TEXT = "no Kubernetes mapping known: review"
CHART_VALUES = "chart values of the stand-in"
LITERAL_ENV = "literal env value"


@dataclass(frozen=True)
class Note:
    """One row of the summary. `compose` is the compose column when it is not the compose value
    itself (None: the value; for a SERVICE_KEY note, None means the row stands for every key)."""

    text: str
    status: str = MAPPED
    compose: str | None = None
    # The value differs per web replica (pod name, zone): the one shown is the first replica's.
    per_replica: bool = False
    # Not a compose key (a fact such as the Probes made): listed after the service's keys.
    trailing: bool = False


# Keys with no Kubernetes meaning, whatever service sets them.
COMMON = {
    "restart": Note("restartPolicy Always (implicit in Deployments/StatefulSets)", DROPPED),
    "logging": Note("kubelet keeps container stdout; Alloy ships it to Loki", DROPPED),
    "depends_on": Note("no start order in Kubernetes: readiness gates traffic instead", DROPPED),
    "ports": Note("no host ports: the Traefik LoadBalancer Service is the entry", DROPPED),
}


def pairs(mapping: dict[str, Any]) -> str:
    """`cpu 1, memory 192Mi`: resource maps as the notes show them."""
    return ", ".join(f"{k} {v}" for k, v in mapping.items())


class Notes:
    """Owner -> row key -> Note. An owner is a compose service or the group one set of notes
    describes ("web" for every replica, "sentinel", "traefik"); `describe` points a compose
    service at its group. Row keys: a compose key (`image`), or one row of it
    (`environment.VAR`, `secrets.NAME`, `volumes:/target`, `labels.LABEL`, `deploy.resources.limits`)."""

    def __init__(self) -> None:
        self._notes: dict[str, dict[str, Note]] = {}
        self._owners: dict[str, str] = {}

    def add(
        self, owner: str, key: str, text: str, status: str = MAPPED, *, before: str | None = None, **kw: Any
    ) -> None:
        """Record (or replace) a note. Rows of one compose key keep the order they are recorded in;
        `before` puts a new row ahead of one a builder step recorded earlier."""
        notes = self._notes.setdefault(owner, {})
        note = Note(text, status, **kw)
        if before in notes and key not in notes:
            items = list(notes.items())
            items.insert(list(notes).index(before), (key, note))
            notes.clear()
            notes.update(items)
        else:
            notes[key] = note

    def extend(self, owner: str, key: str, text: str, status: str = MAPPED, **kw: Any) -> None:
        """Add to the note already under `key` (several local plugins share one mount)."""
        before = self.get(owner, key)
        if before is not None:
            text = f"{before.text}; {text}"
        self.add(owner, key, text, status, **kw)

    def setdefault(self, owner: str, key: str, text: str, status: str = MAPPED, **kw: Any) -> None:
        """A note unless one is recorded already (a builder step that knows more came first)."""
        if self.get(owner, key) is None:
            self.add(owner, key, text, status, **kw)

    def service(self, name: str, text: str, status: str, profiles: list[str] | None = None) -> None:
        """The row for a whole service; with `profiles` its keys are listed too, else it stands for them."""
        compose = f"profiles: {', '.join(profiles or ['core'])}" if profiles is not None else None
        self.add(name, SERVICE_KEY, text, status, compose=compose)

    def describe(self, service: str, owner: str) -> None:
        self._owners[service] = owner

    def get(self, owner: str, key: str) -> Note | None:
        return self._notes.get(owner, {}).get(key)

    def text(self, owner: str, key: str, default: str = "") -> str:
        note = self.get(owner, key)
        return default if note is None else note.text

    def of(self, service: str) -> dict[str, Note]:
        """The notes that describe a compose service (its group's, when it belongs to one)."""
        return self._notes.get(self._owners.get(service, service), {})

"""compose/.env: made from compose/.env.example on first use, every empty secret filled at random."""

from __future__ import annotations

import secrets
from pathlib import Path

from srelab.settings import SECRETS_ENV, SECRETS_TEMPLATE


def _keys(lines: list[str]) -> set[str]:
    return {
        line.split("=", 1)[0].strip() for line in lines if "=" in line and not line.lstrip().startswith("#")
    }


def ensure_secrets(path: Path = SECRETS_ENV, template: Path = SECRETS_TEMPLATE) -> list[str]:
    """Create or complete `path` from `template`; return the keys it added.

    Values left empty in the template are secrets: each gets 24 random URL-safe bytes. Existing
    values are never changed, so passwords baked into volumes (Redis, Elasticsearch) stay valid;
    keys added to the template later are appended.
    """
    existing = path.read_text().splitlines() if path.exists() else []
    have = _keys(existing)
    added: list[str] = []
    lines = list(existing)
    for line in template.read_text().splitlines():
        key, sep, value = line.partition("=")
        is_setting = sep and not line.lstrip().startswith("#")
        if existing and not is_setting:
            continue  # comments are copied only into a new file
        if is_setting:
            if key.strip() in have:
                continue
            if value == "":
                value = secrets.token_urlsafe(24)
            added.append(key.strip())
        lines.append(f"{key}{sep}{value}")
    if added or not path.exists():
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
    return added

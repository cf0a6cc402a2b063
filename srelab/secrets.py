"""compose/.env: made from compose/.env.example on first use, every empty secret filled at random."""

from __future__ import annotations

import secrets
from pathlib import Path

from srelab.settings import SECRETS_ENV, SECRETS_TEMPLATE


def ensure_secrets(path: Path = SECRETS_ENV, template: Path = SECRETS_TEMPLATE) -> bool:
    """Create `path` from `template` if missing; return True when it was created.

    Values left empty in the template are secrets: each gets 24 random URL-safe bytes. An existing
    file is never touched, so passwords baked into volumes (Redis, Elasticsearch) stay valid.
    """
    if path.exists():
        return False
    lines = []
    for line in template.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and value == "":
            value = secrets.token_urlsafe(24)
        lines.append(f"{key}{sep}{value}")
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return True

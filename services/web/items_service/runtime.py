"""The per-app objects the views need, kept in ``app.extensions`` (no module-level globals)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from items_service.config import Settings
from items_service.metrics import Metrics
from items_service.store import ItemStore

EXTENSION_KEY = "items_service"


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: ItemStore
    metrics: Metrics


def runtime() -> Runtime:
    value: Runtime = current_app.extensions[EXTENSION_KEY]
    return value

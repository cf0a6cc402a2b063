"""The harness's side of the locustfile contract: loadtest/load_common.py, loaded from the checkout.

loadtest/ is no package of the srelab distribution (the Locust image copies its files alone, and the
locustfile imports `load_common` as a top-level module), so it is loaded by path, like
runner.LOCUSTFILE is run by path. Every name both sides must agree on is defined there once; this
module re-exports the ones the harness uses. It imports no other srelab.load module.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

LOADTEST_DIR = Path(__file__).resolve().parents[2] / "loadtest"
LOCUSTFILE = LOADTEST_DIR / "locustfile.py"


def _load_common() -> ModuleType:
    path = LOADTEST_DIR / "load_common.py"
    spec = importlib.util.spec_from_file_location("srelab.load._load_common", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_common = _load_common()

EP_LIST: str = _common.EP_LIST
EP_GET: str = _common.EP_GET
EP_POST: str = _common.EP_POST
ENDPOINTS: tuple[str, ...] = _common.ENDPOINTS

READER_USER: str = _common.READER_USER
WRITER_USER: str = _common.WRITER_USER
LIST_USER: str = _common.LIST_USER
USER_CLASSES: tuple[str, ...] = _common.USER_CLASSES
SHAPE_CLASSES: dict[str, str] = _common.SHAPE_CLASSES

MARKER_START: str = _common.MARKER_START
MARKER_STOP: str = _common.MARKER_STOP
MARKER_USERS: str = _common.MARKER_USERS
event_line: Callable[..., str] = _common.event_line
marker_line: Callable[..., str] = _common.marker_line

WRITE_FIELDS: tuple[str, ...] = _common.WRITE_FIELDS
write_line: Callable[..., str] = _common.write_line

LOCAL_NAMES: frozenset[str] = _common.LOCAL_NAMES
host_of: Callable[[str], str | None] = _common.host_of
host_allowed: Callable[..., bool] = _common.host_allowed

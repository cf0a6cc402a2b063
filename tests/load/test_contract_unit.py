"""The locustfile <-> harness contract (loadtest/load_common.py) and the package's import structure.

What cannot be imported from one place (the Shape enum's values, WriteRecord's fields, the
locustfile's class names) is pinned here; the locustfile is read with ast, never imported (Locust
monkey-patches the importing process with gevent).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest import load_common
from srelab.load import contract
from srelab.load.cli import parse_duration
from srelab.load.errors import LoadError
from srelab.load.runner import SCENARIO_USERS, target_allowed
from srelab.load.timeline import Event, Marker, parse_line
from srelab.load.types import Scenario, Shape, WriteRecord

ROOT = Path(__file__).resolve().parents[2]
LOAD_DIR = ROOT / "srelab" / "load"
LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"


def _locustfile_tree() -> ast.Module:
    return ast.parse(LOCUSTFILE.read_text(encoding="utf-8"))


def test_harness_reads_the_same_load_common() -> None:
    assert contract.LOCUSTFILE == LOCUSTFILE
    for name in (
        "EP_LIST",
        "EP_GET",
        "EP_POST",
        "ENDPOINTS",
        "USER_CLASSES",
        "SHAPE_CLASSES",
        "WRITE_FIELDS",
    ):
        assert getattr(contract, name) == getattr(load_common, name), name


def test_shape_and_user_class_names_match_the_locustfile() -> None:
    assert [s.value for s in Shape] == list(load_common.SHAPE_CLASSES)
    assert load_common.DEFAULT_SHAPE in load_common.SHAPE_CLASSES
    classes = {node.name for node in _locustfile_tree().body if isinstance(node, ast.ClassDef)}
    assert set(load_common.SHAPE_CLASSES.values()) <= classes
    assert set(load_common.USER_CLASSES) <= classes
    assert set(SCENARIO_USERS) == set(Scenario)
    assert {u for users in SCENARIO_USERS.values() for u in users} == set(load_common.USER_CLASSES)


def test_locustfile_spells_no_contract_name_itself() -> None:
    """Endpoint and shape names come from load_common, not from string literals of its own."""
    shared = set(load_common.ENDPOINTS) | set(load_common.SHAPE_CLASSES)
    literals = {
        node.value
        for node in ast.walk(_locustfile_tree())
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert literals & shared == set()


def test_write_line_is_what_write_record_reads() -> None:
    assert tuple(WriteRecord.model_fields) == load_common.WRITE_FIELDS
    line = load_common.write_line(
        t=1.234567, key="k1", name="load-k1", attempt=2, status=201, item_id="42", replica="",
        latency_ms=3.14159, error=None,
    )  # fmt: skip
    assert list(json.loads(line)) == list(load_common.WRITE_FIELDS)
    record = WriteRecord.model_validate_json(line)
    assert (record.t, record.id, record.replica, record.latency_ms) == (1.2346, "42", None, 3.14)
    assert record.acknowledged and record.kind is None
    refused = load_common.write_line(
        t=2.0, key="k2", name="load-k2", attempt=1, status=0, item_id=None, replica="web-a",
        latency_ms=None, error="ConnectionRefusedError: [Errno 111] Connection refused",
    )  # fmt: skip
    assert WriteRecord.model_validate_json(refused).kind == "conn_refused"


def test_event_and_marker_lines_round_trip() -> None:
    line = load_common.event_line(
        10.5, load_common.EP_POST, 0, 12.346, "web\ta", "ConnectionResetError", "x\ny"
    )
    ev = parse_line(line)
    assert isinstance(ev, Event)
    assert (ev.t, ev.name, ev.latency_ms, ev.replica, ev.kind) == (
        10.5,
        "POST /items",
        12.35,
        "web a",
        "conn_reset",
    )
    users = parse_line(load_common.marker_line(load_common.MARKER_USERS, 11.0, 7))
    assert users == Marker(load_common.MARKER_USERS, 11.0, 7.0)
    assert parse_line(load_common.marker_line(load_common.MARKER_START, 9.0)) == Marker("start", 9.0, None)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://localhost", "http://[::1]:80", "http://10.0.0.5", "http://example.com",
     "ftp://127.0.0.1", "http://traefik:8081", "http://172.20.0.3:8000", "http://PROXY.lab:1", "not a url"],
)  # fmt: skip
def test_harness_host_rule_is_the_locustfiles_with_the_proxy_for_traefik(url: str) -> None:
    extra = {"172.20.0.3"}
    proxy = "http://proxy.lab:18080"
    expected = load_common.host_allowed(url, extra | {"proxy.lab"}, names=load_common.LOCAL_NAMES)
    assert target_allowed(url, proxy, extra) == expected
    if load_common.host_of(url) != "traefik":
        assert load_common.host_allowed(url, extra | {"proxy.lab"}) == expected


def test_duration_parser_agrees_with_locusts() -> None:
    """Every --run-time Locust reads means the same seconds to parse_duration (Locust's parser runs
    in a child: importing locust monkey-patches the process)."""
    values = ["20", "20s", "3m", "2h", "1h20m", "3h30m10s", "1m30s", "0s"]
    code = (
        "import json, sys; from locust.util.timespan import parse_timespan; "
        "print(json.dumps([parse_timespan(v) for v in sys.argv[1:]]))"
    )
    out = subprocess.run([sys.executable, "-c", code, *values], capture_output=True, text=True, check=True)
    assert [parse_duration(v) for v in values] == json.loads(out.stdout)
    assert parse_duration("1.5m", "--wrk-time") == 90  # ours also reads decimals
    with pytest.raises(LoadError, match=r"^--wrk-time: cannot read 'soon'"):
        parse_duration("soon", "--wrk-time")


def _imports(path: Path) -> set[str]:
    """srelab.load modules a file imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.removeprefix("srelab.load.") for n in names if n.startswith("srelab.load.")}
    return found


def test_load_modules_import_no_cycle_and_types_imports_no_sibling() -> None:
    modules = {p.stem for p in LOAD_DIR.glob("*.py") if p.stem != "__init__"}
    graph = {m: _imports(LOAD_DIR / f"{m}.py") & modules for m in modules}
    assert graph["types"] == set() and graph["contract"] == set()
    assert "api" not in modules
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module not in done:
            for dep in graph[module]:
                visit(dep, (*path, module))
            done.add(module)

    for module in sorted(modules):
        visit(module, ())

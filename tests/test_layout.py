"""The code's shape: no import cycle inside srelab, no function longer than about 80 lines
without a reason, and every package named in docs/architecture.md's layout picture.

Imports are read with `ast`, function-level ones included: a late import that dodges a cycle
at run time is still a cycle for a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "srelab"
# Code that runs: the orchestration package, the items service, the alert sink, the locustfile.
CODE_DIRS = ("srelab", "services/web/items_service", "services/alert-sink", "loadtest")
MAX_FUNCTION_LINES = 80
# A longer function says why in its docstring with these words.
LONG_REASON = "Long because"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """The srelab modules `path` (the module `name`) imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target in known:
                found.add(target)
            # `from srelab.stack import settings` imports the module srelab.stack.settings
            found.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known)
    return found - {name}


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(paths)
    return {name: imported_modules(path, name, known) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_and_from_package_imports_are_read(tmp_path: Path) -> None:
    known = {"srelab.stack.settings", "srelab.stack", "srelab.errors", "srelab.plots"}
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from srelab.stack import settings\ndef f():\n    from .. import errors\n    from ..plots import x\n"
    )
    assert imported_modules(probe, "srelab.stack.probe", known) == {
        "srelab.stack",
        "srelab.stack.settings",
        "srelab.errors",
        "srelab.plots",
    }


def test_no_import_cycle_inside_srelab() -> None:
    graph = import_graph()
    assert "srelab.stack.settings" in graph and graph["srelab.stack.compose_model"], "graph not read"
    assert cycles(graph) == []


def long_functions() -> list[str]:
    found = []
    for folder in CODE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES and LONG_REASON not in (ast.get_docstring(node) or ""):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_80_lines_without_a_reason() -> None:
    assert long_functions() == []


def layout_picture() -> str:
    text = (ROOT / "docs/architecture.md").read_text(encoding="utf-8")
    section = text[text.index("## Where each piece lives") :]
    return section[section.index("```") : section.index("```", section.index("```") + 3)]


@pytest.mark.parametrize("package", sorted(p.name for p in PACKAGE.iterdir() if (p / "cli.py").exists()))
def test_the_layout_picture_names_every_package_and_module(package: str) -> None:
    picture = layout_picture()
    assert f"  {package}/" in picture
    missing = [
        m.name
        for m in sorted((PACKAGE / package).glob("*.py"))
        if m.name != "__init__.py" and m.name not in picture
    ]
    # results/ is small enough to be described as a whole
    assert package == "results" or missing == [], missing


def test_the_layout_picture_names_every_top_level_module() -> None:
    picture = layout_picture()
    assert [
        m.name for m in sorted(PACKAGE.glob("*.py")) if m.name != "__init__.py" and m.name not in picture
    ] == []

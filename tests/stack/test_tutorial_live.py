"""docs/tutorial.md cannot go stale: every command of its ```console blocks runs, in order,
against the live-test stack (its project and ports) with results/ and build/ in a tmp folder."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.lab import Lab

pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(\S*)\s*$")


def tutorial_commands(text: str) -> list[str]:
    """The `$ ` lines of the ```console blocks. Shell commands anywhere else (another fenced
    language, a `$ ` line outside a console block) are refused: the test would not run them."""
    commands: list[str] = []
    language: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if fence := FENCE.match(line):
            language = None if language is not None else fence.group(1)
            if language in ("bash", "sh", "shell", "zsh"):
                raise AssertionError(f"tutorial.md:{number}: use ```console (its commands are run)")
            continue
        if language == "console" and line.startswith("$ "):
            assert not line.endswith("\\"), f"tutorial.md:{number}: one line per command"
            commands.append(line[2:])
        elif line.startswith("$ "):
            raise AssertionError(f"tutorial.md:{number}: a command outside a ```console block")
    return commands


def test_the_tutorial_lists_its_commands() -> None:
    commands = tutorial_commands(TUTORIAL.read_text(encoding="utf-8"))
    assert len(commands) >= 12
    for step in ("srelab up", "srelab load", "chaos run", "chaos compare", "srelab results", "export k8s"):
        assert any(step in c for c in commands), step
    with pytest.raises(AssertionError, match="outside"):
        tutorial_commands("$ rm -rf /\n")
    with pytest.raises(AssertionError, match="console"):
        tutorial_commands("```bash\nmake up\n```\n")


def test_every_tutorial_command_runs(lab: Lab, tmp_path: Path) -> None:
    # The tutorial runs from the repository's root; here from a folder that links to it, so
    # results/ and build/ are the test's own.
    for name in (".venv", "docs", "chaos", "k8s-export", "compose"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {
        **os.environ,
        "LAB_RESULTS_DIR": str(tmp_path / "results"),
        "PYTHONPATH": str(ROOT),  # this checkout's srelab, whatever .venv has installed
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "COLUMNS": "120",
    }
    commands = tutorial_commands(TUTORIAL.read_text(encoding="utf-8"))
    ran: list[str] = []
    try:
        for command in commands:
            started = time.monotonic()
            proc = subprocess.run(
                ["bash", "-o", "pipefail", "-c", command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            assert proc.returncode == 0, f"`{command}` exited {proc.returncode}: {' | '.join(tail)}"
            ran.append(f"{time.monotonic() - started:5.1f} s  {command}")
    finally:
        print("\n".join(ran))
        _remove_locust(lab)
    assert len(ran) == len(commands)

    # What the tutorial says the commands leave behind.
    results = tmp_path / "results"
    assert len(list(results.glob("load-*/summary.json"))) == 1
    chaos_runs = sorted(results.glob("chaos-first-kill-*/report.html"))
    assert len(chaos_runs) == 2
    assert (results / "index.html").read_text(encoding="utf-8").count("chaos-first-kill-") >= 2
    assert (tmp_path / "build" / "k8s" / "CONVERSION.md").is_file()


def _remove_locust(lab: Lab) -> None:
    """`up --profile loadtest` added the Locust UI to the shared live stack: take it out again."""
    from rich.console import Console

    from srelab.stack.lifecycle import Stack

    stack = Stack(lab.settings, ("monitoring", "loadtest"), Console(stderr=True))  # type: ignore[arg-type]
    stack.docker.compose.rm(["locust"], stop=True)

"""The `srelab` command line: thin; parses, calls the modules that do the work, renders.

Sub-commands of the load, chaos and export packages register themselves through a
`register(app)` function in their own cli module, so each area owns its commands.
"""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

import typer
from pydantic import ValidationError
from python_on_whales.exceptions import DockerException
from rich.console import Console

from srelab.errors import FieldProblem, LabError, field_problems, last_line, one_line

app = typer.Typer(
    name="srelab",
    help="A Docker Compose SRE lab: bring up the stack, load it, break it, measure it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# soft_wrap: an error stays one line even when stderr is not a terminal (CI, pipes).
err = Console(stderr=True, soft_wrap=True)

# Modules that add commands to `app` (each has a `register(app: typer.Typer) -> None`).
COMMAND_MODULES = (
    "srelab.stack.cli",
    "srelab.load.cli",
    "srelab.chaos.cli",
    "srelab.export.cli",
    "srelab.results.cli",
)

# A module that fails to import is not skipped: `main` reports it in one line, since a command
# that silently vanishes from --help is harder to diagnose than a clear failure.
BROKEN: dict[str, ImportError] = {}
for _name in COMMAND_MODULES:
    try:
        importlib.import_module(_name).register(app)
    except ImportError as exc:
        BROKEN[_name] = exc


def main() -> None:
    """Entry point: user errors become one readable line and exit code 2, never a traceback."""
    for name, exc in BROKEN.items():
        fail(f"{name} cannot be imported ({exc}): run `make install`")
    try:
        # Without standalone mode click returns the code of `typer.Exit` instead of exiting.
        code = app(standalone_mode=False)
    except LabError as exc:
        fail(str(exc))
    except ValidationError as exc:  # a bad value in compose/lab.env, compose/.env or the environment
        fail(one_line([_setting_error(p) for p in field_problems(exc)]))
    except DockerException as exc:
        fail(f"docker: {last_line(exc)}")  # a docker/compose command failed: its last line says why
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors of typer's bundled click
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if not message:  # `srelab` alone: the help was printed
            sys.exit(0)
        fail(message, code=int(getattr(exc, "exit_code", 2)))
    sys.exit(code if isinstance(code, int) else 0)


def _setting_error(problem: FieldProblem) -> str:
    name = problem.dotted.upper() or "settings"
    if problem.kind == "missing":
        return f"{name} is not set (compose/lab.env sets every lab variable)"
    return f"{name}={str(problem.input)[:60]!r}: {problem.message}"


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


if __name__ == "__main__":
    main()

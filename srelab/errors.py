"""Errors the CLI turns into one readable line and a non-zero exit code, and the two ways every
package makes such a line: from a failed command's output, and from a pydantic ValidationError."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class LabError(Exception):
    """A problem the user can fix; its message is shown as is, without a traceback."""


def last_line(source: object, default: str = "") -> str:
    """The last non-blank line of a failed command's output.

    `source` is text or an exception; for an exception its stderr (python-on-whales'
    DockerException, subprocess errors), else its stdout, else its message is read. Docker and
    Redis put the reason on the last line. Without any text the exception's type name (or
    `default` for text) is the answer.
    """
    if isinstance(source, BaseException):
        text = getattr(source, "stderr", None) or getattr(source, "stdout", None) or str(source)
        default = default or type(source).__name__
    else:
        text = source
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[-1] if lines else default


class StrictModel(BaseModel):
    """Base of every model of a file a user writes (experiments, export params): an unknown
    field is an error (a typo must not be ignored) and a parsed value is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class FieldProblem:
    """One pydantic error, its message made readable (no "Value error, " prefix)."""

    loc: tuple[str, ...]
    kind: str
    message: str
    input: Any

    @property
    def dotted(self) -> str:
        return ".".join(self.loc)


def field_problems(exc: ValidationError) -> list[FieldProblem]:
    """The errors of `exc` with the messages every srelab input file shows the same way."""
    problems = []
    for err in exc.errors(include_url=False):
        kind = str(err.get("type", ""))
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if kind == "missing":
            message = "required field missing"
        elif kind == "extra_forbidden":
            message = "unknown field"
        elif kind == "string_pattern_mismatch":
            # pydantic's own words, with the value that did not match
            message = f"{message}: {err.get('input')!r}"
        loc = tuple(str(part) for part in err.get("loc", ()))
        problems.append(FieldProblem(loc, kind, message, err.get("input")))
    return problems


def one_line(parts: list[str], first_only: bool = False) -> str:
    """Join problem descriptions into one line; `first_only` keeps the first and counts the rest."""
    if first_only and parts:
        return parts[0] + (f" (+{len(parts) - 1} more)" if len(parts) > 1 else "")
    return "; ".join(parts)

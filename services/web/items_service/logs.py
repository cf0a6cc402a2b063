"""JSON log lines on stdout, one object per line, for the app, its supervisor and granian itself.

Kept free of Flask imports: server.py (the supervisor) and granian-logging.json use it outside the app.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

from items_service.config import SERVICE_NAME, default_replica, default_zone

# Attribute of a LogRecord holding the structured fields of a line (logging's `extra`).
FIELDS_ATTR = "fields"
APP_LOGGER = "items_service"
ACCESS_LOGGER = "items_service.access"
_HANDLER_MARK = "_items_service_handler"


def format_time(created: float) -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, service, replica, zone, message,
    then the record's structured fields (``extra={"fields": {...}}``), then any exception."""

    def __init__(
        self,
        service: str = SERVICE_NAME,
        replica: str | None = None,
        zone: str | None = None,
    ) -> None:
        super().__init__()
        self.static: dict[str, str] = {
            "service": service,
            "replica": replica if replica is not None else default_replica(),
            "zone": zone if zone is not None else default_zone(),
        }

    def to_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        line: dict[str, Any] = {
            "time": format_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            **self.static,
        }
        fields = getattr(record, FIELDS_ATTR, None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                line.setdefault(key, value)
        line["message"] = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, tb = record.exc_info
            line["error"] = f"{exc_type.__name__}: {exc}"
            line["traceback"] = "".join(traceback.format_exception(exc_type, exc, tb))
        elif record.exc_text:
            line["traceback"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return line

    def format(self, record: logging.LogRecord) -> str:
        # json.dumps escapes newlines: a traceback never splits the line.
        return json.dumps(self.to_dict(record), ensure_ascii=False, default=str)


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that always writes to the *current* sys.stdout (pytest swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.__init__ assigns it; ignore.
        pass


def configure_logging(level: str, replica: str, zone: str) -> logging.Logger:
    """Send the app's loggers (``items_service`` and children, Flask's app.logger included) to
    stdout as JSON. Idempotent: a second create_app replaces the handler instead of stacking."""
    logger = logging.getLogger(APP_LOGGER)
    for handler in list(logger.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            logger.removeHandler(handler)
    handler = StdoutHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter(replica=replica, zone=zone))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger

"""JSON log formatting of the items service."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest
from items_service.logs import JsonFormatter, configure_logging, format_time
from items_service.observability import access_log_level, method_label

ACCESS_FIELDS = [
    "time", "level", "logger", "service", "replica", "zone",
    "method", "route", "path", "status", "duration_ms", "request_id", "message",
]  # fmt: skip


def _record(
    msg: str = "hello %s", args: tuple[object, ...] = ("world",), **extra: object
) -> logging.LogRecord:
    record = logging.LogRecord("items_service.access", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_access_line_has_exactly_the_contract_fields_in_order() -> None:
    fields = {
        "method": "POST",
        "route": "/items",
        "path": "/items",
        "status": 201,
        "duration_ms": 1.5,
        "request_id": "abc",
    }
    line = JsonFormatter(replica="web-a", zone="a").format(_record("POST /items 201", (), fields=fields))
    data = json.loads(line)
    assert list(data) == ACCESS_FIELDS
    assert data["service"] == "items"
    assert (data["replica"], data["zone"], data["level"]) == ("web-a", "a", "info")
    assert data["logger"] == "items_service.access"
    assert data["message"] == "POST /items 201"
    assert data["status"] == 201


def test_time_is_iso8601_utc_with_milliseconds() -> None:
    assert format_time(0) == "1970-01-01T00:00:00.000Z"
    assert format_time(1714564800.1234) == "2024-05-01T12:00:00.123Z"
    data = json.loads(JsonFormatter(replica="r", zone="z").format(_record()))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["time"])
    assert data["message"] == "hello world"


def test_structured_fields_cannot_override_identity_fields() -> None:
    record = _record(fields={"service": "evil", "replica": "x", "extra": 1})
    data = json.loads(JsonFormatter(replica="web-b", zone="b").format(record))
    assert (data["service"], data["replica"], data["extra"]) == ("items", "web-b", 1)


def test_exception_traceback_stays_on_one_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = _record("failed", (), exc_info=sys.exc_info())
    line = JsonFormatter(replica="r", zone="z").format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["error"] == "ValueError: boom\nsecond line"
    assert "Traceback (most recent call last)" in data["traceback"]
    assert "raise ValueError" in data["traceback"]


def test_unserialisable_values_are_stringified() -> None:
    data = json.loads(JsonFormatter(replica="r", zone="z").format(_record(fields={"obj": object()})))
    assert data["obj"].startswith("<object object at")


def test_replica_and_zone_default_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICA", "web-c")
    monkeypatch.setenv("ZONE", "c")
    data = json.loads(JsonFormatter().format(_record()))
    assert (data["replica"], data["zone"]) == ("web-c", "c")


def test_configure_logging_is_idempotent_and_writes_json_to_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "web-a", "a")
    logger = configure_logging("INFO", "web-a", "a")
    assert len([h for h in logger.handlers if isinstance(h.formatter, JsonFormatter)]) == 1
    logging.getLogger("items_service.x").info("one line", extra={"fields": {"k": "v"}})
    logging.getLogger("items_service.x").debug("not at INFO")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert (data["message"], data["k"], data["logger"]) == ("one line", "v", "items_service.x")


@pytest.mark.parametrize(
    ("route", "status", "level"),
    [
        ("/items", 200, logging.INFO),
        ("/items", 404, logging.INFO),
        ("/items", 503, logging.ERROR),
        ("/livez", 200, logging.DEBUG),
        ("/metrics", 200, logging.DEBUG),
        ("/readyz", 503, logging.ERROR),
        ("unmatched", 404, logging.INFO),
    ],
)
def test_access_log_levels(route: str, status: int, level: int) -> None:
    assert access_log_level(route, status) == level


def test_unknown_methods_share_one_label() -> None:
    assert method_label("GET") == "GET"
    assert method_label("BREW") == "OTHER"

"""Which redis-py errors mean "the create may have run" (store.ReplyTrackingConnection), without
Redis: a stand-in parser raises what the real one raises. The real branches, against a real
redis-server, are in tests/web/test_web_redis_outage.py."""

from __future__ import annotations

import pytest
import redis
from items_service.store import REPLY_LOST, ReplyTrackingConnection, StoreUnavailable


class _FailingParser:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def read_response(self, **_: object) -> object:
        raise self.error

    def on_disconnect(self) -> None:
        pass


def _read_error(error: BaseException, *, handshaking: bool = False) -> BaseException:
    conn = ReplyTrackingConnection(host="127.0.0.1", port=1)
    conn._parser = _FailingParser(error)  # type: ignore[assignment]
    conn._handshaking = handshaking
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)) as info:
        conn.read_response()
    return info.value


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError("timed out"),  # redis-py: TimeoutError("Timeout reading from ...")
        ConnectionResetError(104, "reset"),  # redis-py: ConnectionError("Error while reading ...")
        redis.ConnectionError("Connection closed by server."),
    ],
    ids=["read-timeout", "reset", "closed"],
)
def test_a_lost_reply_is_marked(error: BaseException) -> None:
    assert getattr(_read_error(error), REPLY_LOST, False) is True


@pytest.mark.parametrize(
    "error",
    [
        redis.BusyLoadingError("Redis is loading the dataset in memory"),
        redis.AuthenticationError("NOAUTH Authentication required."),
    ],
    ids=["loading", "noauth"],
)
def test_error_replies_are_not_marked(error: BaseException) -> None:
    """Redis answered: the command did not run."""
    assert not hasattr(_read_error(error), REPLY_LOST)


def test_errors_while_handshaking_are_not_marked() -> None:
    """AUTH and CLIENT SETNAME are read before the command is sent."""
    assert not hasattr(_read_error(TimeoutError("timed out"), handshaking=True), REPLY_LOST)


def test_connect_resets_the_handshake_flag_even_when_it_fails() -> None:
    conn = ReplyTrackingConnection(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    with pytest.raises(redis.ConnectionError):
        conn.connect_check_health()
    assert conn._handshaking is False


def test_store_unavailable_defaults_to_a_known_outcome() -> None:
    assert StoreUnavailable("create", redis.ConnectionError("refused")).outcome_unknown is False

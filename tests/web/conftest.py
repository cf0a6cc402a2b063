"""Fixtures for the items service against the real redis-server of tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from items_service.app import create_app
from items_service.config import Settings

if TYPE_CHECKING:
    from tests.conftest import RedisServer

REPLICA = "web-test"
ZONE = "zt"


def make_settings(server: RedisServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_host": server.host,
        "redis_port": server.port,
        "redis_password": server.password,
        "replica": REPLICA,
        "zone": ZONE,
        "log_level": "INFO",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def app_factory(redis_server: RedisServer) -> Callable[..., Flask]:
    def factory(**overrides: Any) -> Flask:
        app = create_app(make_settings(redis_server, **overrides))
        app.testing = True
        return app

    return factory


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def rdb(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A direct client to inspect what the service stored."""
    conn = redis.Redis(
        host=redis_server.host, port=redis_server.port, password=redis_server.password, decode_responses=True
    )
    yield conn
    conn.close()

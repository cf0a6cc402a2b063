"""GET /items: newest first, bounded pages, cursor pagination, bounded Redis work."""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from items_service.runtime import EXTENSION_KEY
from items_service.store import CREATE_ITEM_LUA, DATA_KEY, INDEX_KEY, SEQ_KEY

pytestmark = pytest.mark.integration

LINK_RE = re.compile(r'^<(/items\?limit=(\d+)&cursor=([A-Za-z0-9_-]+))>; rel="next"$')


def _create(client: FlaskClient, count: int) -> list[dict[str, Any]]:
    return [client.post("/items", json={"name": f"item-{i}"}).get_json() for i in range(count)]


def test_newest_first_with_default_limit(client: FlaskClient) -> None:
    created = _create(client, 55)
    response = client.get("/items")
    body = response.get_json()
    assert len(body) == 50
    assert body == list(reversed(created))[:50]
    match = LINK_RE.match(response.headers["Link"])
    assert match and match.group(2) == "50"


def test_pages_cover_every_item_once_in_order(client: FlaskClient) -> None:
    created = _create(client, 23)
    seen: list[dict[str, Any]] = []
    url = "/items?limit=5"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        page = response.get_json()
        assert 1 <= len(page) <= 5
        seen.extend(page)
        pages += 1
        link = response.headers.get("Link")
        if link is None:
            break
        match = LINK_RE.match(link)
        assert match, link
        url = match.group(1)
    assert pages == 5
    assert seen == list(reversed(created))


def test_exact_multiple_has_no_trailing_empty_page(client: FlaskClient) -> None:
    _create(client, 4)
    first = client.get("/items?limit=2")
    second = client.get(LINK_RE.match(first.headers["Link"]).group(1))  # type: ignore[union-attr]
    assert len(second.get_json()) == 2
    assert "Link" not in second.headers


def test_new_items_do_not_shift_a_cursor(client: FlaskClient) -> None:
    created = _create(client, 6)
    first = client.get("/items?limit=3")
    _create(client, 2)  # newer items arrive between pages
    second = client.get(LINK_RE.match(first.headers["Link"]).group(1)).get_json()  # type: ignore[union-attr]
    assert second == list(reversed(created))[3:6]


def test_empty_store_lists_nothing(client: FlaskClient) -> None:
    response = client.get("/items")
    assert response.status_code == 200
    assert response.get_json() == []
    assert "Link" not in response.headers


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "limit=abc", "limit=-5", "limit=", "cursor=zzz", "cursor=djE6NQ=="]
)
def test_bad_limit_or_cursor_is_400_json(client: FlaskClient, query: str) -> None:
    response = client.get(f"/items?{query}")
    assert response.status_code == 400
    assert response.is_json
    assert response.get_json()["error"] in {"invalid limit", "invalid cursor"}


@pytest.mark.parametrize("query", ["cursor=", "cursor", "limit=2&cursor="])
def test_empty_cursor_is_the_first_page_as_documented(client: FlaskClient, query: str) -> None:
    """openapi.json: the cursor parameter's pattern admits "" and its description says it means the
    first page; the service does what the document says."""
    created = _create(client, 3)
    spec_cursor = client.get("/openapi.json").get_json()["components"]["parameters"]["Cursor"]
    assert re.fullmatch(spec_cursor["schema"]["pattern"].strip("^$"), "")
    assert "Empty (cursor=) means the first page" in spec_cursor["description"]
    response = client.get(f"/items?{query}")
    assert response.status_code == 200
    limit = 2 if "limit" in query else 50
    assert response.get_json() == list(reversed(created))[:limit]
    assert response.get_json() == client.get(f"/items?limit={limit}").get_json()


def _commandstats(rdb: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = rdb.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def _bulk_create(app: Flask, count: int) -> None:
    """Create items through the service's own Lua script, pipelined (fast setup)."""
    store = app.extensions[EXTENSION_KEY].store
    pipe = store.client.pipeline(transaction=False)
    script = store.client.register_script(CREATE_ITEM_LUA)
    for i in range(count):
        item_id = f"{i:032x}"
        item = f'{{"id":"{item_id}","name":"bulk-{i}","created_at":"2024-01-01T00:00:00Z"}}'
        script(keys=[SEQ_KEY, DATA_KEY, INDEX_KEY], args=[item_id, item, 60], client=pipe)
    pipe.execute()


def test_listing_5000_items_uses_a_bounded_number_of_redis_commands(
    app: Flask, client: FlaskClient, rdb: redis.Redis
) -> None:
    _bulk_create(app, 5000)
    assert rdb.zcard(INDEX_KEY) == 5000
    client.get("/items?limit=1")  # warm the connection pool (AUTH, CLIENT SETINFO...)

    before = _commandstats(rdb)
    first = client.get("/items?limit=50")
    second = client.get(LINK_RE.match(first.headers["Link"]).group(1))  # type: ignore[union-attr]
    after = _commandstats(rdb)
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    delta = {name: calls for name, calls in delta.items() if calls and name != "info"}

    assert [i["name"] for i in first.get_json()] == [f"bulk-{i}" for i in range(4999, 4949, -1)]
    assert [i["name"] for i in second.get_json()] == [f"bulk-{i}" for i in range(4949, 4899, -1)]
    # Two pages = two round trips (one script each), each one ZRANGE + one HMGET inside Redis,
    # whatever the 5000 stored items.
    assert delta == {"evalsha": 2, "zrange": 2, "hmget": 2}, delta

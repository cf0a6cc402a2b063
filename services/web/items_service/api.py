"""Items API: POST /items, GET /items, GET /items/<item_id>."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from items_service.errors import Conflict, NotFound
from items_service.runtime import runtime
from items_service.store import Item
from items_service.validation import (
    decode_cursor,
    encode_cursor,
    is_item_id,
    parse_idempotency_key,
    parse_json_body,
    parse_limit,
    validate_new_item,
)

bp = Blueprint("items", __name__)


def _item_response(item: Item, status: int) -> Response:
    response = jsonify(item.to_dict())
    response.status_code = status
    response.headers["Location"] = url_for("items.get_item", item_id=item.id)
    return response


@bp.post("/items")
def create_item() -> Response:
    rt = runtime()
    # Header first: a bad key is a 400 whatever the body.
    key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
    raw = request.get_data(cache=False)  # at most max_body_bytes + 1 (MAX_CONTENT_LENGTH)
    if len(raw) > rt.settings.max_body_bytes:
        raise RequestEntityTooLarge()
    payload: Any = parse_json_body(raw)
    name = validate_new_item(payload)
    result = rt.store.create(name, key)
    if result.created:
        rt.metrics.item_created()
        return _item_response(result.item, 201)
    if result.item.name != name:
        raise Conflict(
            "idempotency key conflict",
            f"Idempotency-Key was already used for item {result.item.id} with a different name",
        )
    rt.metrics.idempotent_replay()
    response = _item_response(result.item, 201)
    response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.get("/items")
def list_items() -> Response:
    rt = runtime()
    limit = parse_limit(request.args.get("limit"))
    after = decode_cursor(request.args.get("cursor"))
    page = rt.store.list_page(limit, after)
    response = jsonify([item.to_dict() for item in page.items])
    if page.next_after is not None:
        next_url = url_for("items.list_items", limit=limit, cursor=encode_cursor(page.next_after))
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


@bp.get("/items/<item_id>")
def get_item(item_id: str) -> Response:
    item = runtime().store.get(item_id) if is_item_id(item_id) else None
    if item is None:
        raise NotFound("item not found", f"no item with id {item_id!r}")
    return jsonify(item.to_dict())

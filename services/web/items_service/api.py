"""Items API: POST /items, GET /items, GET /items/<item_id>."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request
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

# Sent by the blackbox exporter's synthetic POST (services/config/blackbox/blackbox.yml).
PROBE_HEADER = "X-Srelab-Probe"


def _item_response(item: Item, status: int) -> Response:
    # By hand, not jsonify + url_for: the same bytes at a fraction of the cost (ids are hex).
    response = Response(item.to_json(), status=status, mimetype="application/json")
    response.headers["Location"] = f"/items/{item.id}"
    return response


@bp.post("/items")
def create_item() -> Response:
    rt = runtime()
    # Header first: a bad key is a 400 whatever the body.
    key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
    # The proxy's per-request id: the implicit key of a keyless POST, so that the proxy's own
    # retries of it (same id on every attempt) never store it twice.
    # Parsed by the request hook (observability.py), which honours the configured header.
    request_key = g.get("proxy_request_id") if key is None else None
    raw = request.get_data(cache=False)  # at most max_body_bytes + 1 (MAX_CONTENT_LENGTH)
    if len(raw) > rt.settings.max_body_bytes:
        raise RequestEntityTooLarge()
    payload: Any = parse_json_body(raw)
    name = validate_new_item(payload)
    if request.headers.get(PROBE_HEADER):
        # Kept apart: no listing entry, no idempotency record, no items_created_total.
        probe = Response(rt.store.create_probe(name).to_json(), status=201, mimetype="application/json")
        probe.headers[PROBE_HEADER] = "stored"
        return probe
    result = rt.store.create(name, key, request_key=request_key)
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
    # The stored JSON goes out as it is: parsing and re-serialising 50 items was a tenth of a GET.
    response = Response(page.to_json(), mimetype="application/json")
    if page.next_after is not None:
        # Built by hand: url_for costs more than the rest of the header handling together.
        cursor = encode_cursor(page.next_after)
        response.headers["Link"] = f'</items?limit={limit}&cursor={cursor}>; rel="next"'
    return response


@bp.get("/items/<item_id>")
def get_item(item_id: str) -> Response:
    item = runtime().store.get(item_id) if is_item_id(item_id) else None
    if item is None:
        # Echoed back escaped (ascii) and cut short: the path is whatever the client sent.
        shown = ascii(item_id if len(item_id) <= 64 else item_id[:64] + "...")
        raise NotFound("item not found", f"no item with id {shown}")
    return jsonify(item.to_dict())

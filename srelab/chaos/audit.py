"""Write audit: every acknowledged POST is read back after the run, duplicates are counted.

- lost: an id answered 2xx to a POST that GET /items/<id> (through the proxy) answers 404.
- wrong_name: an id read back whose name is not the one its POST sent (writes.jsonl records it).
- replays: for a sample of acknowledged keys (at most REPLAY_SAMPLE, spread over the run), the
  same POST (same Idempotency-Key, same body) again after the run must answer the same id with
  `Idempotent-Replayed: true`: the idempotency records survived whatever the fault did to Redis.
  Done after the listing scan; a replay that is not one creates an item, and is a finding.
- unverified: ids that could not be read back (errors other than 404 after retries).
- duplicate_keys: Idempotency-Keys whose acknowledged answers carry more than one distinct id.
- listed_twice: ids that GET /items (newest first, paged) lists more than once, scanning back to
  the run's start (bounded by max_list_pages).
- missing_from_list: acknowledged ids of the run that a complete scan did not list.

Keyless writes (hey: no Idempotency-Key, no id read from the answers) are audited by count: every
POST of the run carries the run's own item name, and after the run the items listed with that
name (GET /items newest first, back to the run's start) are compared with the 2xx answers:
stored > acknowledged are duplicates, stored < acknowledged are acknowledged writes lost.

Reads use bounded concurrency and only the proxy URL (loopback).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import requests
from pydantic import BaseModel, Field

from srelab.load import WriteRecord

PAGE_LIMIT = 500
REPLAY_SAMPLE = 20  # acknowledged keys re-POSTed after the run
EXAMPLES = 20  # ids/keys kept in the journal per finding


class KeylessAudit(BaseModel):
    """Writes without an Idempotency-Key, counted by the run's own item name."""

    name: str  # the item name in every POST body of the run
    sent: int | None = None  # requests the load generator sent (None: unknown, stopped early)
    answered: int = 0  # requests that got an HTTP answer
    acknowledged: int = 0  # of which 2xx: items the client was told are stored
    failed: int = 0  # answered non-2xx, plus those without an answer when known
    stored: int = 0  # distinct items with `name` that GET /items lists
    listed_twice: int = 0  # of which listed more than once
    duplicates: int = 0  # stored - acknowledged, when positive
    lost: int = 0  # acknowledged - stored, when positive
    list_pages: int = 0
    list_complete: bool = False  # the scan reached items older than the run (or the end)
    error: str | None = None


def keyless_balance(acknowledged: int, stored: int) -> tuple[int, int]:
    """(duplicates, lost) from the 2xx answers and the items stored under the run's name."""
    return max(stored - acknowledged, 0), max(acknowledged - stored, 0)


class AuditResult(BaseModel):
    posts: int = 0  # POST attempts recorded by the load
    acknowledged_posts: int = 0  # of which answered 2xx with an id
    acknowledged: int = 0  # distinct acknowledged ids
    keys: int = 0  # distinct Idempotency-Keys with an acknowledged answer
    read_ok: int = 0
    lost: int = 0
    lost_ids: list[str] = Field(default_factory=list)
    unverified: int = 0
    unverified_ids: list[str] = Field(default_factory=list)
    names_checked: int = 0  # found ids whose record carries the name sent
    wrong_name: int = 0
    wrong_name_examples: list[str] = Field(default_factory=list)  # "<id>: sent 'a', read 'b'"
    replays: int = 0  # acknowledged keys re-POSTed after the run
    replays_failed: int = 0
    replay_examples: list[str] = Field(default_factory=list)  # "<key>: why"
    duplicate_keys: int = 0
    duplicate_examples: dict[str, list[str]] = Field(default_factory=dict)
    listed: int = 0
    list_pages: int = 0
    list_complete: bool = False  # the scan reached items older than the run (or the end)
    listed_twice: int = 0
    listed_twice_ids: list[str] = Field(default_factory=list)
    missing_from_list: int = 0
    missing_from_list_ids: list[str] = Field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None
    keyless: KeylessAudit | None = None  # set for keyless (hey) runs instead of the per-id checks


def duplicate_keys(records: Iterable[WriteRecord]) -> dict[str, list[str]]:
    """Idempotency-Key -> distinct ids, for keys acknowledged with more than one id."""
    ids_by_key: dict[str, set[str]] = defaultdict(set)
    for record in records:
        if record.acknowledged and record.id is not None:
            ids_by_key[record.key].add(record.id)
    return {key: sorted(ids) for key, ids in ids_by_key.items() if len(ids) > 1}


# id -> (HTTP status of GET /items/<id> (0: no response), the name in its body (None: none))
Fetcher = Callable[[str], tuple[int, str | None]]
# (key, name) -> (HTTP status of the re-POST (0: no response), id in its body, Idempotent-Replayed)
Replayer = Callable[[str, str], tuple[int, str | None, str | None]]


def _body_field(response: requests.Response, name: str) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return None if value is None else str(value)


def http_fetcher(base_url: str, timeout_s: float = 5.0) -> Fetcher:
    local = threading.local()

    def fetch(item_id: str) -> tuple[int, str | None]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        try:
            response = session.get(f"{base_url}/items/{item_id}", timeout=timeout_s)
        except requests.RequestException:
            return 0, None
        return response.status_code, _body_field(response, "name") if response.status_code == 200 else None

    return fetch


def http_replayer(base_url: str, timeout_s: float = 5.0) -> Replayer:
    session = requests.Session()

    def replay(key: str, name: str) -> tuple[int, str | None, str | None]:
        try:
            response = session.post(
                f"{base_url}/items", json={"name": name}, headers={"Idempotency-Key": key}, timeout=timeout_s
            )
        except requests.RequestException:
            return 0, None, None
        return response.status_code, _body_field(response, "id"), response.headers.get("Idempotent-Replayed")

    return replay


def read_back(
    ids: Iterable[str], fetch: Fetcher, concurrency: int = 8, attempts: int = 5, pause_s: float = 0.5
) -> tuple[list[str], list[str], list[str], dict[str, str | None]]:
    """(found, lost, unverified, name read per found id): 404 twice is lost; no 200/404 after
    `attempts` is unverified."""
    names: dict[str, str | None] = {}

    def one(item_id: str) -> tuple[str, str]:
        not_found = 0
        for attempt in range(attempts):
            status, name = fetch(item_id)
            if status == 200:
                names[item_id] = name
                return item_id, "found"
            if status == 404:
                not_found += 1
                if not_found >= 2:
                    return item_id, "lost"
            if attempt + 1 < attempts:
                time.sleep(pause_s)
        return item_id, "unverified"

    found, lost, unverified = [], [], []
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="audit") as pool:
        for item_id, outcome in pool.map(one, list(ids)):
            {"found": found, "lost": lost, "unverified": unverified}[outcome].append(item_id)
    return found, lost, unverified, names


def check_names(acked: Iterable[WriteRecord], names: Mapping[str, str | None]) -> tuple[int, list[str]]:
    """(ids checked, mismatches as text): the name read back is the name the POST sent."""
    sent = {r.id: r.name for r in acked if r.id is not None and r.name is not None}
    checked, wrong = 0, []
    for item_id in sorted(set(sent) & set(names)):
        checked += 1
        if names[item_id] != sent[item_id]:
            wrong.append(f"{item_id}: sent {sent[item_id]!r}, read {names[item_id]!r}")
    return checked, wrong


def replay_sample(acked: Sequence[WriteRecord], size: int = REPLAY_SAMPLE) -> list[WriteRecord]:
    """One acknowledged record per key, at most `size` keys spread evenly over the run."""
    first: dict[str, WriteRecord] = {}
    for record in sorted(acked, key=lambda r: r.t):
        if record.name is not None and record.id is not None:
            first.setdefault(record.key, record)
    keyed = list(first.values())
    if len(keyed) <= size:
        return keyed
    step = len(keyed) / size
    return [keyed[int(i * step)] for i in range(size)]


def check_replays(sample: Iterable[WriteRecord], replay: Replayer) -> tuple[int, list[str]]:
    """(replayed, failures as text): the same POST again answers 2xx, the same id, replayed."""
    done, failures = 0, []
    for record in sample:
        assert record.name is not None
        done += 1
        status, item_id, replayed = replay(record.key, record.name)
        if not 200 <= status < 300:
            failures.append(f"{record.key}: re-POST answered {status or 'nothing'}")
        elif item_id != record.id:
            failures.append(f"{record.key}: re-POST gave id {item_id}, not {record.id} (a new item)")
        elif (replayed or "").lower() != "true":
            failures.append(f"{record.key}: re-POST gave id {item_id} without Idempotent-Replayed: true")
    return done, failures


def _created_epoch(item: dict[str, object]) -> float | None:
    try:
        return datetime.fromisoformat(str(item["created_at"])).timestamp()
    except (KeyError, ValueError):
        return None


def scan_items(
    base_url: str,
    since: float,
    max_pages: int,
    timeout_s: float = 10.0,
    session: requests.Session | None = None,
) -> tuple[list[dict[str, Any]], int, bool]:
    """Items GET /items lists (newest first) back to `since`: (items, pages, complete)."""
    session = session or requests.Session()
    url = f"{base_url}/items?limit={PAGE_LIMIT}"
    items: list[dict[str, Any]] = []
    pages = 0
    while pages < max_pages:
        response = session.get(url, timeout=timeout_s)
        response.raise_for_status()
        page = response.json()
        pages += 1
        items.extend(page)
        created = [_created_epoch(item) for item in page]
        if page and all(c is not None and c < since for c in created):
            return items, pages, True
        nxt = response.links.get("next", {}).get("url")
        if not nxt:
            return items, pages, True
        url = urljoin(base_url + "/", nxt)
    return items, pages, False


def scan_list(
    base_url: str,
    since: float,
    max_pages: int,
    timeout_s: float = 10.0,
    session: requests.Session | None = None,
) -> tuple[list[str], int, bool]:
    """Ids GET /items lists (newest first) back to `since`: (ids, pages, complete)."""
    items, pages, complete = scan_items(base_url, since, max_pages, timeout_s, session)
    return [str(item["id"]) for item in items], pages, complete


def audit_keyless(
    name: str,
    base_url: str,
    since: float,
    *,
    sent: int | None,
    answered: int,
    acknowledged: int,
    max_list_pages: int = 100,
    session: requests.Session | None = None,
) -> AuditResult:
    """Count the items stored under the run's `name` and balance them against the 2xx answers."""
    started = time.monotonic()
    failed = answered - acknowledged + (sent - answered if sent is not None else 0)
    keyless = KeylessAudit(name=name, sent=sent, answered=answered, acknowledged=acknowledged, failed=failed)
    result = AuditResult(posts=sent if sent is not None else answered, acknowledged_posts=acknowledged)
    if max_list_pages <= 0:
        keyless.error = "listing disabled (audit.max_list_pages 0): keyless writes cannot be counted"
    else:
        try:
            items, pages, complete = scan_items(base_url, since - 5.0, max_list_pages, session=session)
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            keyless.error = f"listing failed: {type(exc).__name__}: {exc}"
        else:
            # Only items created since the run's start count (the scan's last page reaches further).
            counts = Counter(
                str(item["id"])
                for item in items
                if item.get("name") == name and (_created_epoch(item) or since) >= since - 5.0
            )
            keyless.stored = len(counts)
            keyless.listed_twice = sum(1 for n in counts.values() if n > 1)
            keyless.duplicates, keyless.lost = keyless_balance(acknowledged, keyless.stored)
            keyless.list_pages, keyless.list_complete = pages, complete
            result.listed, result.list_pages, result.list_complete = len(items), pages, complete
            result.listed_twice = keyless.listed_twice
    result.keyless = keyless
    result.duration_s = round(time.monotonic() - started, 3)
    return result


def audit_writes(
    records: list[WriteRecord],
    base_url: str,
    since: float,
    concurrency: int = 8,
    max_list_pages: int = 100,
    fetch: Fetcher | None = None,
    replay: Replayer | None = None,
    replay_keys: int = REPLAY_SAMPLE,
) -> AuditResult:
    started = time.monotonic()
    result = AuditResult(posts=len(records))
    acked = [r for r in records if r.acknowledged and r.id is not None]
    result.acknowledged_posts = len(acked)
    ids = sorted({r.id for r in acked if r.id is not None})
    result.acknowledged = len(ids)
    result.keys = len({r.key for r in acked})
    dups = duplicate_keys(records)
    result.duplicate_keys = len(dups)
    result.duplicate_examples = dict(list(dups.items())[:EXAMPLES])
    found, lost, unverified, names = read_back(ids, fetch or http_fetcher(base_url), concurrency)
    result.names_checked, wrong = check_names(acked, names)
    result.wrong_name, result.wrong_name_examples = len(wrong), wrong[:EXAMPLES]
    result.read_ok = len(found)
    result.lost, result.lost_ids = len(lost), lost[:EXAMPLES]
    result.unverified, result.unverified_ids = len(unverified), unverified[:EXAMPLES]
    if max_list_pages > 0:
        try:
            listed, pages, complete = scan_list(base_url, since - 5.0, max_list_pages)
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            result.error = f"listing failed: {type(exc).__name__}: {exc}"
        else:
            counts = Counter(listed)
            twice = sorted(i for i, n in counts.items() if n > 1)
            result.listed, result.list_pages, result.list_complete = len(listed), pages, complete
            result.listed_twice, result.listed_twice_ids = len(twice), twice[:EXAMPLES]
            if complete:
                missing = sorted(set(found) - set(counts))
                result.missing_from_list = len(missing)
                result.missing_from_list_ids = missing[:EXAMPLES]
    if replay_keys > 0:  # after the scan: a replay that is not one stores a new item
        sample = replay_sample(acked, replay_keys)
        result.replays, failures = check_replays(sample, replay or http_replayer(base_url))
        result.replays_failed, result.replay_examples = len(failures), failures[:EXAMPLES]
    result.duration_s = round(time.monotonic() - started, 3)
    return result

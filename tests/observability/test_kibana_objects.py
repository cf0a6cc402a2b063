"""Kibana saved objects (kibana/*.ndjson): valid NDJSON, references that resolve, and fields that
the Logstash pipeline and the Elasticsearch index template really produce."""

from __future__ import annotations

import json
from typing import Any

from tests.observability._obs import CONFIG, KIBANA_OBJECTS

TEMPLATE = json.loads((CONFIG / "elasticsearch" / "setup" / "index-template.json").read_text())


def objects() -> list[dict[str, Any]]:
    found = []
    for path in KIBANA_OBJECTS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert line.strip(), f"{path.name}:{number}: empty line in NDJSON"
            obj = json.loads(line)
            assert isinstance(obj, dict), f"{path.name}:{number}"
            found.append(obj)
    return found


def by_type(kind: str) -> list[dict[str, Any]]:
    return [o for o in objects() if o["type"] == kind]


def test_ndjson_holds_a_data_view_a_saved_search_and_a_dashboard() -> None:
    assert KIBANA_OBJECTS, "no kibana/*.ndjson"
    kinds = {o["type"] for o in objects()}
    assert {"index-pattern", "search", "dashboard"} <= kinds
    keys = [(o["type"], o["id"]) for o in objects()]
    assert len(keys) == len(set(keys)), "duplicate saved object"
    for obj in objects():
        assert obj["attributes"]["title"], obj["id"]
        assert isinstance(obj["references"], list)


def test_every_reference_resolves_to_an_object_in_the_files() -> None:
    known = {(o["type"], o["id"]) for o in objects()}
    for obj in objects():
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in known, f"{obj['id']} -> missing {ref}"


def test_data_view_matches_the_logstash_index_and_template() -> None:
    (view,) = by_type("index-pattern")
    title = view["attributes"]["title"]
    assert title in TEMPLATE["index_patterns"]
    pipeline = (CONFIG / "logstash" / "pipeline" / "srelab.conf").read_text()
    assert f'index => "{title.rstrip("*")}' in pipeline
    assert view["attributes"]["timeFieldName"] == "@timestamp"


def test_saved_searches_use_their_reference_and_mapped_fields() -> None:
    mapped = set(TEMPLATE["template"]["mappings"]["properties"])
    searches = by_type("search")
    assert searches
    for search in searches:
        source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        names = {r["name"] for r in search["references"]}
        assert source["indexRefName"] in names, search["id"]
        assert set(search["attributes"]["columns"]) <= mapped, search["id"]
        assert source["query"]["language"] == "kuery"
        fields = {w.split(":")[0].strip() for w in source["query"]["query"].replace(">=", ":").split(" and ")}
        assert fields <= mapped, f"{search['id']}: query on unmapped fields {fields - mapped}"


def test_dashboard_panels_reference_objects_by_panel_ref_name() -> None:
    (dashboard,) = by_type("dashboard")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {r["name"]: r for r in dashboard["references"]}
    by_reference = [p for p in panels if "panelRefName" in p]
    assert len(by_reference) >= 2
    for panel in by_reference:
        name = f"{panel['panelIndex']}:{panel['panelRefName']}"
        assert name in refs, f"panel {panel['panelIndex']} has no reference {name}"
        assert refs[name]["type"] == panel["type"]
    assert {r["id"] for r in refs.values()} >= {s["id"] for s in by_type("search")}
    indexes = [p["panelIndex"] for p in panels]
    assert len(indexes) == len(set(indexes))
    for panel in panels:
        grid = panel["gridData"]
        assert grid["i"] == panel["panelIndex"] and grid["x"] + grid["w"] <= 48

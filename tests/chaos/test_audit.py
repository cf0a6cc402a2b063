"""The write audit beyond "GET answers 200": the name read back is the one sent, and a sample of
acknowledged keys replays (same id, Idempotent-Replayed: true) after the run. Fakes, no network."""

from __future__ import annotations

from srelab.chaos.audit import audit_writes, replay_sample
from srelab.chaos.verdict import check_audit
from srelab.load import WriteRecord


def acked(n: int) -> list[WriteRecord]:
    return [
        WriteRecord(t=float(i), key=f"k{i:03d}", name=f"load-k{i:03d}", status=201, id=f"id{i:03d}")
        for i in range(n)
    ]


def store(records: list[WriteRecord], renamed: dict[str, str] | None = None):
    """A fake items API: GET answers each acknowledged id with its name (or a changed one)."""
    names = {r.id: r.name for r in records}
    names.update(renamed or {})

    def fetch(item_id: str) -> tuple[int, str | None]:
        return (200, names[item_id]) if item_id in names else (404, None)

    return fetch


def replayer(
    records: list[WriteRecord], forgotten: set[str] = frozenset(), unflagged: set[str] = frozenset()
):
    ids = {r.key: r.id for r in records}
    calls: list[tuple[str, str]] = []

    def replay(key: str, name: str) -> tuple[int, str | None, str | None]:
        calls.append((key, name))
        if key in forgotten:  # the idempotency record is gone: a new item
            return 201, f"new-{key}", None
        return 201, ids[key], None if key in unflagged else "true"

    return replay, calls


def test_names_and_replays_pass_when_the_store_kept_everything() -> None:
    records = acked(5)
    replay, calls = replayer(records)
    result = audit_writes(records, "http://x", 0.0, fetch=store(records), replay=replay, max_list_pages=0)
    assert result.names_checked == 5 and result.wrong_name == 0
    assert result.replays == 5 and result.replays_failed == 0
    assert calls == [(r.key, r.name) for r in records]  # same key, same body
    verdict = check_audit(result, fail_on_duplicates=True)
    assert verdict.passed, verdict.reasons
    assert "5 acknowledged key(s) re-POSTed after the run" in verdict.notes


def test_a_write_read_back_with_another_name_fails() -> None:
    records = acked(3)
    replay, _ = replayer(records)
    result = audit_writes(
        records, "http://x", 0.0, fetch=store(records, {"id001": "other"}), replay=replay, max_list_pages=0
    )
    assert result.read_ok == 3 and result.wrong_name == 1
    assert result.wrong_name_examples == ["id001: sent 'load-k001', read 'other'"]
    verdict = check_audit(result, fail_on_duplicates=True)
    assert not verdict.passed
    assert verdict.reasons == [
        "1 acknowledged write(s) read back with another name (id001: sent 'load-k001', read 'other')"
    ]


def test_idempotency_records_lost_or_replays_unflagged_fail() -> None:
    records = acked(4)
    replay, _ = replayer(records, forgotten={"k000"}, unflagged={"k002"})
    result = audit_writes(records, "http://x", 0.0, fetch=store(records), replay=replay, max_list_pages=0)
    assert result.replays == 4 and result.replays_failed == 2
    assert result.replay_examples == [
        "k000: re-POST gave id new-k000, not id000 (a new item)",
        "k002: re-POST gave id id002 without Idempotent-Replayed: true",
    ]
    verdict = check_audit(result, fail_on_duplicates=False)
    assert not verdict.passed and "2 of 4 idempotency record(s) did not survive" in verdict.reasons[0]


def test_replays_are_bounded_spread_over_the_run_and_one_per_key() -> None:
    records = acked(100)
    retry = WriteRecord(t=0.5, key="k000", name="load-k000", attempt=2, status=201, id="id000")
    sample = replay_sample([*records, retry], size=20)
    assert len(sample) == 20 and len({r.key for r in sample}) == 20
    assert sample[0].key == "k000" and sample[-1].key == "k095"  # evenly from first to last
    old_log = [WriteRecord(t=1.0, key="k", status=201, id="a")]  # no name recorded: nothing to replay
    assert replay_sample(old_log) == []

"""The chaos table (srelab chaos table): one row per experiment, figures read from the journals."""

from __future__ import annotations

from pathlib import Path

from srelab.chaos.journal import read_journal
from srelab.chaos.table import HEADER, markdown, row

DATA = Path(__file__).parent / "data"


def test_a_row_is_the_journals_figures() -> None:
    journal = read_journal(DATA / "journal-kill-redis.json")
    cells = dict(zip(HEADER, row(journal), strict=True))
    during = journal.phases["during"]
    assert cells["experiment"] == "kill-redis"
    assert cells["verdict"] == journal.verdicts.overall.label  # type: ignore[union-attr]
    assert cells["requests in fault window"] == str(during.requests)
    assert cells["failed"] == str(during.failed)
    assert cells["failures by kind"] == ", ".join(f"{k} {v}" for k, v in sorted(during.failures.items()))
    assert cells["lost"] == str(journal.audit.lost)  # type: ignore[union-attr]
    assert cells["Redis failover (promotion / first write)"] == "-"  # a journal from before HA


def test_keyless_runs_show_their_count_and_each_experiment_has_one_row() -> None:
    keyless = read_journal(DATA / "journal-hey-keyless-kill.json")
    older = keyless.model_copy(update={"started_at": keyless.started_at - 100, "run_id": "older"})
    table = markdown([keyless, older, read_journal(DATA / "journal-kill-redis.json")]).splitlines()
    assert table[0].startswith("| experiment | verdict |") and len(table) == 4  # header, rule, 2 rows
    k = keyless.audit.keyless  # type: ignore[union-attr]
    assert k is not None
    assert f"{k.acknowledged} (keyless, {k.stored} stored)" in table[2] + table[3]

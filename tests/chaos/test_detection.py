"""Detection: attributing alerts to faults, false positives, silent faults, and the goals."""

from __future__ import annotations

from srelab.chaos.detection import AlertSeen, Detection, FaultWindow, judge, measure
from tests.chaos.helpers import experiment

T = 1_000_000.0  # the run's start (epoch)


def alert(
    name: str, starts: float, resolved: float | None = None, severity: str = "page", **labels: str
) -> AlertSeen:
    return AlertSeen(
        name=name,
        fingerprint=f"{name}-{sorted(labels.items())}",
        labels={"alertname": name, "severity": severity, **labels},
        severity=severity,
        starts_at=T + starts,
        first_seen=T + starts + 0.5,
        resolved_at=None if resolved is None else T + resolved,
        resolved_by="" if resolved is None else "endsAt",
    )


def window(index: int, at: float, restore: float | None, service: str = "redis") -> FaultWindow:
    return FaultWindow(
        index=index,
        service=service,
        description=f"kill {service}",
        injected_at=T + at,
        restored_at=None if restore is None else T + restore,
    )


def test_alerts_in_a_fault_window_are_its_detections_with_times_from_inject_and_restore() -> None:
    d = measure(
        [alert("RedisDown", 16.0, 21.0), alert("ItemsProbeFailing", 14.5, 22.0, module="items_post")],
        [window(0, 10.0, 18.0)],
        T,
        T + 60,
    )
    (f,) = d.faults
    assert [a.name for a in f.alerts] == ["ItemsProbeFailing", "RedisDown"]
    assert f.first_alert == "ItemsProbeFailing" and f.time_to_detect_s == 4.5
    assert f.time_to_resolve_s == 4.0  # the last one resolved 22 - 18 s
    assert d.false_positives == [] and d.silent_faults == []
    assert {a.verdict for a in d.alerts} == {"fault"} and {a.fault for a in d.alerts} == {0}
    assert d.alerts[0].label == "ItemsProbeFailing{module=items_post}"


def test_alerts_outside_every_window_are_false_positives_and_before_the_run_apart() -> None:
    d = measure(
        [
            alert("TraefikDown", -30.0, 5.0),  # already firing when the run began
            alert("WebReplicaDown", 3.0, 6.0, job="web", instance="10.0.0.5:8000"),  # before the fault
            alert("RedisDown", 12.0, 20.0),
            alert("ItemsLatencyBudgetBurn", 18.0 + 21.0),  # after restore + 20 s grace
        ],
        [window(0, 10.0, 18.0)],
        T,
        T + 80,
    )
    assert d.already_firing == ["TraefikDown"]
    assert d.false_positives == ["WebReplicaDown{instance=10.0.0.5:8000}", "ItemsLatencyBudgetBurn"]
    assert [a.name for a in d.faults[0].alerts] == ["RedisDown"]


def test_a_fault_no_alert_answers_is_silent_and_an_alert_goes_to_the_last_fault_before_it() -> None:
    d = measure(
        [alert("WebReplicasMissing", 31.0, 40.0)],
        [window(0, 10.0, 14.0, "web-a"), window(1, 30.0, 36.0, "web-b")],
        T,
        T + 60,
    )
    assert d.silent_faults == [0]
    assert d.fault(1) is not None and d.fault(1).first_alert == "WebReplicasMissing"  # type: ignore[union-attr]


def test_time_to_resolve_waits_for_paging_alerts_not_slow_tickets() -> None:
    d = measure(
        [alert("RedisDown", 13.0, 21.0), alert("ItemsErrorBudgetBurnSlow", 15.0, None, severity="ticket")],
        [window(0, 10.0, 18.0)],
        T,
        T + 60,
    )
    assert d.faults[0].time_to_resolve_s == 3.0
    unresolved = measure([alert("RedisDown", 13.0, None)], [window(0, 10.0, 18.0)], T, T + 60)
    assert unresolved.faults[0].time_to_resolve_s is None


def goals(**hypothesis: object):
    return experiment(hypothesis=hypothesis).hypothesis


def test_a_missed_or_late_detection_fails_and_a_timely_one_is_noted() -> None:
    d = measure([alert("RedisDown", 25.0, 30.0)], [window(0, 10.0, 18.0)], T, T + 60)
    reasons, notes, unmeasured = judge(d, goals(detect={"alert": "RedisDown", "within_s": 20}))
    assert reasons == [] and unmeasured == [] and "RedisDown fired after 15.0 s" in notes[0]
    reasons, _, _ = judge(d, goals(detect=[{"alert": "RedisDown", "within_s": 9}]))
    assert reasons == ["fault 0: RedisDown fired after 15.0 s > 9 s"]
    reasons, _, _ = judge(d, goals(detect=[{"alert": "TraefikDown", "within_s": 30}]))
    assert reasons == ["fault 0 (redis): TraefikDown never fired (missed detection)"]
    reasons, _, _ = judge(d, goals(detect=[{"alert": "RedisDown", "within_s": 20, "resolve_within_s": 5}]))
    assert reasons == ["fault 0: RedisDown resolved 12.0 s after the restore > 5 s"]


def test_no_alerts_fails_on_any_alert_not_named_in_detect() -> None:
    d = measure(
        [alert("RedisDown", 12.0, 20.0), alert("ItemsProbeFailing", 13.0, 20.0, module="items_get")],
        [window(0, 10.0, 18.0)],
        T,
        T + 60,
    )
    reasons, _, _ = judge(d, goals(no_alerts=True, detect=[{"alert": "RedisDown", "within_s": 20}]))
    assert reasons == ["no_alerts: these fired: ItemsProbeFailing{module=items_get}"]
    quiet = measure([], [window(0, 10.0, 18.0)], T, T + 60)
    reasons, notes, _ = judge(quiet, goals(no_alerts=True))
    assert reasons == [] and "no unexpected alert fired" in notes


def test_detection_not_measured_is_never_a_pass() -> None:
    missing = Detection(status="not measured", reason="Alertmanager at http://127.0.0.1:9 does not answer")
    reasons, notes, unmeasured = judge(missing, goals(detect=[{"alert": "RedisDown", "within_s": 20}]))
    assert reasons == [] and notes == []
    assert unmeasured == ["detection not measured: Alertmanager at http://127.0.0.1:9 does not answer"]
    assert judge(None, goals())[2] == ["detection not measured: not measured"]


class Reply:
    """What requests.get returns, reduced to what AlertWatcher.poll reads (plain data in)."""

    def __init__(self, body: object) -> None:
        self.body = body

    def raise_for_status(self) -> None:
        return None

    def json(self) -> object:
        return self.body


def test_watcher_records_new_alerts_and_closes_resolved_or_vanished_ones() -> None:
    from srelab.chaos.detection import AlertWatcher

    now = [T + 10.0]
    replies: list[object] = []
    w = AlertWatcher("http://127.0.0.1:9", get=lambda *a, **k: Reply(replies.pop(0)), clock=lambda: now[0])

    def am(name: str, starts: str, ends: str, fp: str) -> dict[str, object]:
        return {
            "fingerprint": fp,
            "labels": {"alertname": name, "severity": "page"},
            "startsAt": starts,
            "endsAt": ends,
        }

    iso = "1970-01-12T13:46:{:02d}Z"  # T = 1,000,000 s = 1970-01-12T13:46:40Z
    replies += [
        [
            am("RedisDown", iso.format(45), iso.format(59), "f1"),
            am("TraefikDown", iso.format(46), iso.format(59), "f2"),
        ],
        [am("RedisDown", iso.format(45), iso.format(48), "f1")],  # resolved by Prometheus (endsAt past)
        "not a list",  # a broken answer is counted, not fatal
    ]
    w.poll()
    now[0] = T + 12.0
    w.poll()
    w.poll()
    alerts = {a.name: a for a in w.alerts()}
    assert alerts["RedisDown"].starts_at == T + 5 and alerts["RedisDown"].resolved_at == T + 8
    assert alerts["RedisDown"].resolved_by == "endsAt"
    assert alerts["TraefikDown"].resolved_at == T + 12 and alerts["TraefikDown"].resolved_by == "gone"
    assert w.polls == 2 and w.errors == 1 and w.firing() == []

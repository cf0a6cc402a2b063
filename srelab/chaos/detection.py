"""Detection: whether, and how fast, monitoring noticed each fault of a chaos run.

During a run an `AlertWatcher` polls Alertmanager's v2 API (GET /api/v2/alerts, every second)
and keeps every alert it sees with Prometheus' firing time (`startsAt`) and, once Prometheus
resolves it, its `endsAt`. `measure` then attributes each alert to the fault it answers: an alert
that started while a fault was held, or within ATTRIBUTION_GRACE_S after its restore (the longest
stated detection delay of a paging alert, services/config/prometheus/rules/alerts.yml), belongs to
the last fault injected before it. What is left are false positives (fired while no fault ran);
faults no alert belongs to are silent. `judge` checks the experiment's detection goals.

Detection is measured only when Alertmanager answers and Prometheus sends to it (the monitoring
profile); otherwise the run says so once, and a run with detection goals is INCONCLUSIVE.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

import requests
from pydantic import BaseModel, Field

from srelab.chaos.model import DetectGoal, Hypotheses

POLL_INTERVAL_S = 1.0
ATTRIBUTION_GRACE_S = 20.0
RESOLVE_WAIT_S = 45.0  # at most this long after the run for the faults' alerts to resolve
HTTP_TIMEOUT_S = 2.0


class AlertSeen(BaseModel):
    """One alert (one label set) as Alertmanager showed it during the run."""

    name: str
    fingerprint: str
    labels: dict[str, str] = Field(default_factory=dict)
    severity: str = ""
    summary: str = ""
    starts_at: float  # Prometheus' firing time (startsAt), epoch
    first_seen: float  # the first poll that showed it
    resolved_at: float | None = None  # endsAt once resolved, or the first poll without it
    resolved_by: Literal["", "endsAt", "gone"] = ""
    # Set by `measure`: the fault it answers, or why none.
    fault: int | None = None
    verdict: Literal["", "fault", "false positive", "before the run"] = ""

    @property
    def label(self) -> str:
        """The name, with the label that tells two alerts of one rule apart (probe module, replica)."""
        parts = []
        if "module" in self.labels:
            parts.append(f"module={self.labels['module']}")
        if self.labels.get("job") == "web" and "instance" in self.labels:
            parts.append(f"instance={self.labels['instance']}")
        return f"{self.name}{{{','.join(parts)}}}" if parts else self.name


class AlertTiming(BaseModel):
    alert: str  # AlertSeen.label
    name: str
    severity: str = ""
    detect_s: float  # startsAt - injected_at
    resolve_s: float | None = None  # resolved_at - restored_at (None: not resolved)


class FaultDetection(BaseModel):
    fault: int
    service: str
    description: str
    alerts: list[AlertTiming] = Field(default_factory=list)  # in firing order

    @property
    def detected(self) -> bool:
        return bool(self.alerts)

    @property
    def time_to_detect_s(self) -> float | None:
        return min((a.detect_s for a in self.alerts), default=None)

    @property
    def first_alert(self) -> str | None:
        return min(self.alerts, key=lambda a: a.detect_s).name if self.alerts else None

    @property
    def time_to_resolve_s(self) -> float | None:
        """Until the last of its paging alerts (all, if none pages) resolved, from the restore;
        None while one is unresolved. Slow-window tickets (a 10m burn) outlast a lab fault by
        design, so they do not hold this figure up."""
        counted = [a for a in self.alerts if a.severity == "page"] or self.alerts
        if not counted or any(a.resolve_s is None for a in counted):
            return None
        return max(a.resolve_s for a in counted if a.resolve_s is not None)


class Detection(BaseModel):
    status: Literal["measured", "not measured"]
    reason: str | None = None  # why not measured
    source: str = ""  # the Alertmanager polled
    poll_interval_s: float = POLL_INTERVAL_S
    attribution_grace_s: float = ATTRIBUTION_GRACE_S
    polls: int = 0
    poll_errors: int = 0
    alerts: list[AlertSeen] = Field(default_factory=list)
    faults: list[FaultDetection] = Field(default_factory=list)
    false_positives: list[str] = Field(default_factory=list)  # AlertSeen labels
    already_firing: list[str] = Field(default_factory=list)  # firing before the run began
    silent_faults: list[int] = Field(default_factory=list)

    def fault(self, index: int) -> FaultDetection | None:
        return next((f for f in self.faults if f.fault == index), None)


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def monitoring_problem(
    alertmanager_url: str, prometheus_url: str, get: Callable[..., Any] = requests.get
) -> str | None:
    """None when Alertmanager answers and Prometheus sends alerts to it; else why not."""
    try:
        get(f"{alertmanager_url}/api/v2/status", timeout=HTTP_TIMEOUT_S).raise_for_status()
    except requests.RequestException as exc:
        return f"Alertmanager at {alertmanager_url} does not answer ({type(exc).__name__})"
    try:
        reply = get(f"{prometheus_url}/api/v1/alertmanagers", timeout=HTTP_TIMEOUT_S)
        reply.raise_for_status()
        active = reply.json()["data"]["activeAlertmanagers"]
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        return f"Prometheus at {prometheus_url} does not answer ({type(exc).__name__})"
    if not active:
        return "Prometheus has no active Alertmanager: its alerts go nowhere"
    return None


class AlertWatcher:
    """Polls Alertmanager's v2 API in a thread and keeps every alert seen, with its timing."""

    def __init__(
        self,
        alertmanager_url: str,
        interval_s: float = POLL_INTERVAL_S,
        get: Callable[..., Any] = requests.get,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = alertmanager_url.rstrip("/")
        self.interval_s = interval_s
        self._get = get
        self._clock = clock
        self._alerts: dict[str, AlertSeen] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at: float | None = None
        self.polls = 0
        self.errors = 0

    def poll(self) -> None:
        """One GET /api/v2/alerts: new alerts are recorded, resolved or vanished ones closed."""
        now = self._clock()
        try:
            reply = self._get(
                f"{self.url}/api/v2/alerts", params={"silenced": "false"}, timeout=HTTP_TIMEOUT_S
            )
            reply.raise_for_status()
            listed = reply.json()
            if not isinstance(listed, list):
                raise ValueError("not a list")
        except (requests.RequestException, ValueError):
            with self._lock:
                self.errors += 1
            return
        seen: set[str] = set()
        with self._lock:
            self.polls += 1
            for raw in listed:
                if not isinstance(raw, dict):
                    continue
                fingerprint = str(raw.get("fingerprint") or "")
                labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
                starts = _epoch(raw.get("startsAt"))
                if not fingerprint or starts is None:
                    continue
                ends = _epoch(raw.get("endsAt"))
                key = f"{fingerprint}@{starts:.3f}"  # one alert firing twice is two alerts
                alert = self._alerts.get(key)
                if alert is None:
                    alert = AlertSeen(
                        name=labels.get("alertname", "?"),
                        fingerprint=fingerprint,
                        labels=labels,
                        severity=labels.get("severity", ""),
                        summary=str((raw.get("annotations") or {}).get("summary", "")),
                        starts_at=starts,
                        first_seen=now,
                    )
                    self._alerts[key] = alert
                seen.add(key)
                if alert.resolved_at is None and ends is not None and ends <= now:
                    alert.resolved_at, alert.resolved_by = ends, "endsAt"
            for key, alert in self._alerts.items():
                if key not in seen and alert.resolved_at is None:
                    alert.resolved_at, alert.resolved_by = now, "gone"

    def start(self) -> None:
        self.started_at = self._clock()
        self.poll()

        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                self.poll()

        self._thread = threading.Thread(target=loop, name="alert-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=HTTP_TIMEOUT_S + 1)

    def alerts(self) -> list[AlertSeen]:
        with self._lock:
            return sorted((a.model_copy() for a in self._alerts.values()), key=lambda a: a.starts_at)

    def firing(self) -> list[AlertSeen]:
        return [a for a in self.alerts() if a.resolved_at is None]


class FaultWindow(BaseModel):
    """What `measure` needs of a fault record (journal.FaultRecord has these fields)."""

    index: int
    service: str
    description: str
    injected_at: float | None
    restored_at: float | None


def measure(
    alerts: Sequence[AlertSeen],
    faults: Sequence[FaultWindow],
    run_started: float,
    run_ended: float,
    grace_s: float = ATTRIBUTION_GRACE_S,
) -> Detection:
    """Attribute every alert to a fault, or call it a false positive; find the silent faults."""
    injected = sorted((f for f in faults if f.injected_at is not None), key=lambda f: f.injected_at or 0.0)
    per_fault = {
        f.index: FaultDetection(fault=f.index, service=f.service, description=f.description) for f in injected
    }
    false_positives: list[str] = []
    already: list[str] = []
    judged = [a.model_copy() for a in sorted(alerts, key=lambda a: a.starts_at)]
    for alert in judged:
        if alert.starts_at < run_started:
            alert.verdict = "before the run"
            already.append(alert.label)
            continue
        owner = None
        for f in injected:
            start = f.injected_at or 0.0
            end = (f.restored_at or run_ended) + grace_s
            if start - 1.0 <= alert.starts_at <= end:
                owner = f  # the last injected one that still covers it wins
        if owner is None:
            alert.verdict = "false positive"
            false_positives.append(alert.label)
            continue
        alert.verdict, alert.fault = "fault", owner.index
        resolve = None
        if alert.resolved_at is not None and owner.restored_at is not None:
            resolve = round(max(0.0, alert.resolved_at - owner.restored_at), 2)
        per_fault[owner.index].alerts.append(
            AlertTiming(
                alert=alert.label,
                name=alert.name,
                severity=alert.severity,
                detect_s=round(alert.starts_at - (owner.injected_at or 0.0), 2),
                resolve_s=resolve,
            )
        )
    # One entry per fault index (a fault hitting several containers is one fault).
    detections = sorted(per_fault.values(), key=lambda d: d.fault)
    return Detection(
        status="measured",
        attribution_grace_s=grace_s,
        alerts=judged,
        faults=detections,
        false_positives=false_positives,
        already_firing=already,
        silent_faults=[d.fault for d in detections if not d.detected],
    )


def judge(detection: Detection | None, hypotheses: Hypotheses) -> tuple[list[str], list[str], list[str]]:
    """(reasons to fail, notes, why it was not measured) for the detection goals.

    Not measured is never a pass: the detection part is INCONCLUSIVE, and so is the whole run when
    the experiment has detection goals (the runner decides that)."""
    goals: Sequence[DetectGoal] = hypotheses.detect
    if detection is None or detection.status != "measured":
        why = (detection.reason if detection else None) or "not measured"
        return [], [], [f"detection not measured: {why}"]
    reasons: list[str] = []
    notes: list[str] = []
    for goal in goals:
        targets = [d for d in detection.faults if goal.fault is None or d.fault == goal.fault]
        if not targets:
            reasons.append(f"detect {goal.alert}: fault {goal.fault} was never injected")
            continue
        for d in targets:
            hits = [a for a in d.alerts if a.name == goal.alert]
            if not hits:
                reasons.append(f"fault {d.fault} ({d.service}): {goal.alert} never fired (missed detection)")
                continue
            first = min(hits, key=lambda a: a.detect_s)
            if first.detect_s > goal.within_s:
                reasons.append(
                    f"fault {d.fault}: {goal.alert} fired after {first.detect_s:.1f} s > {goal.within_s:g} s"
                )
            else:
                notes.append(
                    f"fault {d.fault}: {goal.alert} fired after {first.detect_s:.1f} s "
                    f"(<= {goal.within_s:g} s)"
                )
            if goal.resolve_within_s is not None:
                if first.resolve_s is None:
                    reasons.append(f"fault {d.fault}: {goal.alert} did not resolve after the restore")
                elif first.resolve_s > goal.resolve_within_s:
                    reasons.append(
                        f"fault {d.fault}: {goal.alert} resolved {first.resolve_s:.1f} s after the restore "
                        f"> {goal.resolve_within_s:g} s"
                    )
    if hypotheses.no_alerts:
        allowed = {g.alert for g in goals}
        unexpected = sorted(
            {a.alert for d in detection.faults for a in d.alerts if a.name not in allowed}
            | set(detection.false_positives)
        )
        if unexpected:
            reasons.append("no_alerts: these fired: " + ", ".join(unexpected))
        else:
            notes.append("no unexpected alert fired")
    if detection.false_positives and not hypotheses.no_alerts:
        notes.append("false positives: " + ", ".join(detection.false_positives))
    if detection.silent_faults:
        notes.append("silent faults (no alert): " + ", ".join(str(i) for i in detection.silent_faults))
    return reasons, notes, []

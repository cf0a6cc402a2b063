"""Fault events to Grafana (annotations API) and Loki (python-logging-loki), when they run.

Both are optional: at the start of a run each is probed once (Grafana GET /api/health, Loki
GET /ready, 1 s timeout). One that does not answer is reported once ("Grafana not reachable at ...:
annotations skipped") and never tried again during the run; the experiment carries on either way.
Grafana's admin credentials come from Settings (compose/.env or the environment: GRAFANA_ADMIN_USER,
GRAFANA_ADMIN_PASSWORD), the same values compose gives Grafana.

Every HTTP call is bounded by the same timeout, the Loki pushes too: python-logging-loki posts
with a plain requests.Session and no timeout, so a Loki that accepts the connection and never
answers would block the chaos runner. Loki gets one stream per experiment and event kind
(labels service, experiment, event, severity, logger: all constant within a run and across
runs); the run id is a field of the logfmt line (`| logfmt | run_id="..."`), never a label.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests

from srelab.stack.settings import Settings

# The Loki `logger` label (python-logging-loki sends the logger's name): one name for every run.
LOGGER_NAME = "srelab.chaos.events"


class TimeoutSession(requests.Session):
    """A requests session whose every request has a timeout unless the caller gives one."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, *args, **kwargs)


def logfmt_value(value: object) -> str:
    """A logfmt value: bare when it is one plain token, else double-quoted with escapes."""
    text = str(value)
    if text and all(c.isalnum() or c in "-_.:/+@" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def event_line(run_id: str, text: str, fields: dict[str, Any] | None = None) -> str:
    """The Loki line of one event: logfmt, message first, then the run id and the details."""
    pairs = {"msg": text, "run_id": run_id, **(fields or {})}
    return " ".join(f"{key}={logfmt_value(value)}" for key, value in pairs.items())


class Annotator:
    """Sends each event to Grafana and Loki if they answered the probe; records what happened."""

    def __init__(
        self,
        settings: Settings,
        experiment: str,
        run_id: str,
        say: Callable[[str], None] = print,
        timeout_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.experiment = experiment
        self.run_id = run_id
        self.say = say
        self.timeout_s = timeout_s
        self.grafana_url = settings.url(settings.lab_grafana_port).rstrip("/")
        self.loki_url = settings.url(settings.lab_loki_port).rstrip("/")
        self.status: dict[str, str] = {}
        self.sent = {"grafana": 0, "loki": 0}
        self._auth: tuple[str, str] | None = None
        self._logger: logging.Logger | None = None
        self._handler: Any = None  # logging_loki.LokiHandler, imported only when Loki answers

    def probe(self) -> None:
        self._probe_grafana()
        self._probe_loki()

    def _answers(self, url: str) -> bool:
        try:
            return requests.get(url, timeout=self.timeout_s).ok
        except requests.RequestException:
            return False

    def _probe_grafana(self) -> None:
        if not self._answers(f"{self.grafana_url}/api/health"):
            self.status["grafana"] = f"not reachable at {self.grafana_url}: annotations skipped"
            self.say(f"Grafana {self.status['grafana']}")
            return
        password = self.settings.grafana_admin_password
        self._auth = (self.settings.grafana_admin_user, password) if password else None
        if self._auth is None:
            self.status["grafana"] = "no GRAFANA_ADMIN_PASSWORD (env or compose/.env): annotations skipped"
            self.say(f"Grafana: {self.status['grafana']}")
            return
        self.status["grafana"] = f"annotations to {self.grafana_url}"

    def _probe_loki(self) -> None:
        if not self._answers(f"{self.loki_url}/ready"):
            self.status["loki"] = f"not reachable at {self.loki_url}: event log lines skipped"
            self.say(f"Loki {self.status['loki']}")
            return
        import logging_loki  # python-logging-loki

        handler = logging_loki.LokiHandler(
            url=f"{self.loki_url}/loki/api/v1/push",
            tags={"service": "srelab-chaos", "experiment": self.experiment},
            version="1",
        )
        # The emitter builds its session from session_class on first use: bound every push.
        timeout_s = self.timeout_s
        handler.emitter.session_class = lambda: TimeoutSession(timeout_s)  # type: ignore[assignment]
        # The handler swallows HTTP errors into handleError (a traceback on stderr): record instead.
        handler.handleError = lambda record: self._loki_failed()  # type: ignore[method-assign]
        # A logger of this Annotator's own (not in logging's registry): the same name every run,
        # and no handler of an earlier run left on a shared logger to push its lines twice.
        logger = logging.Logger(LOGGER_NAME, logging.INFO)
        logger.propagate = False
        logger.addHandler(handler)
        self._handler = handler
        self._logger = logger
        self.status["loki"] = f"event lines to {self.loki_url}"

    @property
    def grafana_on(self) -> bool:
        return self._auth is not None

    def event(
        self,
        t: float,
        text: str,
        tags: list[str],
        end_t: float | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        if self._auth is not None:
            body: dict[str, Any] = {
                "time": int(t * 1000),
                "tags": ["srelab", "chaos", self.experiment, *tags],
                "text": f"{self.experiment}: {text}",
            }
            if end_t is not None:
                body["timeEnd"] = int(end_t * 1000)
            try:
                response = requests.post(
                    f"{self.grafana_url}/api/annotations", json=body, auth=self._auth, timeout=self.timeout_s
                )
                response.raise_for_status()
                self.sent["grafana"] += 1
            except requests.RequestException as exc:
                self.status["grafana"] = f"annotation failed ({exc}); further annotations skipped"
                self.say(f"Grafana {self.status['grafana']}")
                self._auth = None
        if self._logger is not None:
            # Labels stay low-cardinality (event kind); the run id and details go in the line.
            self._logger.info(
                event_line(self.run_id, text, fields),
                extra={"tags": {"event": tags[0] if tags else "event"}},
            )
            if self._logger is not None:
                self.sent["loki"] += 1

    def _loki_failed(self) -> None:
        if self._logger is None:
            return
        self.status["loki"] = "pushing a log line failed (error or timeout); further lines skipped"
        self.say(f"Loki {self.status['loki']}")
        self._logger = None
        if self._handler is not None:
            self._handler.emitter.close()  # what the handleError replaced above would have done

    def summary(self) -> dict[str, str]:
        return {name: f"{state} ({self.sent.get(name, 0)} sent)" for name, state in self.status.items()}

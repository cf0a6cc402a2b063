"""Fault events to Grafana (annotations API) and Loki (python-logging-loki), when they run.

Both are optional: at the start of a run each is probed once (Grafana GET /api/health, Loki
GET /ready, 1 s timeout). One that does not answer is reported once ("Grafana not reachable at ...:
annotations skipped") and never tried again during the run; the experiment carries on either way.
Grafana's admin credentials come from Settings (compose/.env or the environment: GRAFANA_ADMIN_USER,
GRAFANA_ADMIN_PASSWORD), the same values compose gives Grafana.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests

from srelab.settings import Settings

LOGGER_NAME = "srelab.chaos.events"


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
        # The handler swallows HTTP errors into handleError (a traceback on stderr): record instead.
        handler.handleError = lambda record: self._loki_failed()  # type: ignore[method-assign]
        logger = logging.getLogger(f"{LOGGER_NAME}.{self.run_id}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
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
            detail = " ".join(f"{k}={v}" for k, v in (fields or {}).items())
            self._logger.info(
                f"run={self.run_id} {text} {detail}".strip(),
                extra={"tags": {"event": tags[0] if tags else "event"}},
            )
            if self._logger is not None:
                self.sent["loki"] += 1

    def _loki_failed(self) -> None:
        if self._logger is None:
            return
        self.status["loki"] = "pushing a log line failed; further lines skipped"
        self.say(f"Loki {self.status['loki']}")
        self._logger = None

    def summary(self) -> dict[str, str]:
        return {name: f"{state} ({self.sent.get(name, 0)} sent)" for name, state in self.status.items()}

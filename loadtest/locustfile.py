"""srelab load: readers and writers of the items service, load shapes, request budgets.

Run by `srelab load` (headless, in a child process) and by the `locust` compose service (web UI).
Options are Locust custom arguments, each also settable by an environment variable:

  --reader-weight / LOAD_READER_WEIGHT   weight of ReaderUser (default 4)
  --writer-weight / LOAD_WRITER_WEIGHT   weight of WriterUser (default 1)
  --wait-min, --wait-max / LOAD_WAIT_MIN, LOAD_WAIT_MAX   think time in seconds (default 0)
  --load-shape / LOAD_SHAPE              steady | step | spike (default steady)
  --steps / LOAD_STEPS                   steps of the step shape (default 4)
  --request-budget / LOAD_REQUEST_BUDGET stop after this many requests (0: no budget)
  --request-timeout / LOAD_REQUEST_TIMEOUT  connect and read timeout per request, seconds (5)
  --write-retries / LOAD_WRITE_RETRIES   retries of a failed POST with the same Idempotency-Key
  --target-hosts / LOAD_TARGET_HOSTS     comma-separated base URLs users are spread over
  --events-file / LOAD_EVENTS_FILE       append one TSV line per request (the 1 s timeline)
  --writes-file / LOAD_WRITES_FILE       append one JSON line per POST attempt (the write audit)
  --allowed-hosts / LOAD_ALLOWED_HOSTS   extra hosts (besides loopback and `traefik`) allowed

User classes (pick on the command line, e.g. `locust ... ListUser`): ReaderUser, WriterUser,
ListUser (GET /items only). Shapes (LoadTestShape, selectable by name with --load-shape or the web
UI's class picker): SteadyShape, StepShape, SpikeShape. Every shape ends after --run-time
(default 600 s when unset); the request budget ends a run earlier.

Traffic is only sent to loopback, to the lab's proxy service name `traefik`, or to hosts listed
in --allowed-hosts: any other target stops the run with an error.

What the harness (srelab/load) reads back is defined once in load_common.py: endpoint names, the
events.tsv and writes.jsonl lines, the host rule, shape and user-class names. The run's state and
its Locust event listeners are one object, RUN (RunListener).
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import random
import sys
import time
import uuid
from typing import Any

import gevent
from load_common import (
    DEFAULT_SHAPE,
    EP_GET,
    EP_LIST,
    EP_POST,
    MARKER_START,
    MARKER_STOP,
    MARKER_USERS,
    SHAPE_CLASSES,
    clean,
    event_line,
    host_allowed,
    marker_line,
    spike_users,
    steady_users,
    step_users,
    write_line,
)
from locust import LoadTestShape, constant_throughput, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.event import Events
from locust.exception import StopUser

log = logging.getLogger("srelab.load")

DEFAULT_RUN_TIME_S = 600.0
MAX_SEEN_IDS = 5000


def _split(value: str) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class RunListener:
    """This process's run (one Locust process = one run): its options, budget, files and ids, and
    the listeners that fill them, registered on Locust's events by `register`."""

    def __init__(self) -> None:
        self.environment: Any = None
        self.budget = 0
        self.issued = 0
        self.completed = 0
        self.quitting = False
        self.events_fh: Any = None
        self.writes_fh: Any = None
        self.seen_ids: collections.deque[str] = collections.deque(maxlen=MAX_SEEN_IDS)
        self.target_hosts: list[str] = []
        self.rr = itertools.count()
        self.extra_hosts: set[str] = set()
        self.bad_host_logged = False

    def register(self, hooks: Events) -> None:
        hooks.init_command_line_parser.add_listener(self.add_arguments)
        hooks.init.add_listener(self.on_init)
        hooks.test_start.add_listener(self.on_test_start)
        hooks.test_stop.add_listener(self.on_test_stop)
        hooks.quitting.add_listener(self.on_quitting)
        hooks.request.add_listener(self.on_request)

    # ----------------------------------------------------------------------- state users use

    @property
    def runner(self) -> Any:
        return self.environment.runner if self.environment is not None else None

    def take(self) -> bool:
        """Reserve one request of the budget; False when the budget is spent."""
        if self.budget and self.issued >= self.budget:
            return False
        self.issued += 1
        return True

    def targets(self) -> list[str]:
        env = self.environment
        return self.target_hosts or ([env.host] if env is not None and env.host else [])

    def next_target(self) -> str | None:
        """The next of --target-hosts (round-robin over users); None when none is set."""
        if not self.target_hosts:
            return None
        return self.target_hosts[next(self.rr) % len(self.target_hosts)]

    # ----------------------------------------------------------------------- listeners

    @staticmethod
    def add_arguments(parser: Any) -> None:
        parser.add_argument("--reader-weight", type=int, default=4, env_var="LOAD_READER_WEIGHT")
        parser.add_argument("--writer-weight", type=int, default=1, env_var="LOAD_WRITER_WEIGHT")
        parser.add_argument("--wait-min", type=float, default=0.0, env_var="LOAD_WAIT_MIN")
        parser.add_argument("--wait-max", type=float, default=0.0, env_var="LOAD_WAIT_MAX")
        # Paced load: every user starts a task every 1/user-rate s (Locust's constant_throughput),
        # so users x user-rate is the offered rate whatever the latency; 0 = think time.
        parser.add_argument("--user-rate", type=float, default=0.0, env_var="LOAD_USER_RATE")
        parser.add_argument(
            "--load-shape", choices=list(SHAPE_CLASSES), default=DEFAULT_SHAPE, env_var="LOAD_SHAPE"
        )
        parser.add_argument("--steps", type=int, default=4, env_var="LOAD_STEPS")
        parser.add_argument("--request-budget", type=int, default=0, env_var="LOAD_REQUEST_BUDGET")
        parser.add_argument("--request-timeout", type=float, default=5.0, env_var="LOAD_REQUEST_TIMEOUT")
        parser.add_argument("--write-retries", type=int, default=0, env_var="LOAD_WRITE_RETRIES")
        parser.add_argument("--target-hosts", default="", env_var="LOAD_TARGET_HOSTS")
        parser.add_argument("--events-file", default="", env_var="LOAD_EVENTS_FILE", include_in_web_ui=False)
        parser.add_argument("--writes-file", default="", env_var="LOAD_WRITES_FILE", include_in_web_ui=False)
        parser.add_argument(
            "--allowed-hosts", default="", env_var="LOAD_ALLOWED_HOSTS", include_in_web_ui=False
        )

    def on_init(self, environment: Any, **_kw: Any) -> None:
        self.environment = environment
        opts = environment.parsed_options
        if opts is None:  # used as a library without argument parsing
            return
        self.budget = max(0, opts.request_budget)
        self.target_hosts = _split(opts.target_hosts)
        self.extra_hosts = {h.lower() for h in _split(opts.allowed_hosts)}
        for url in self.targets():
            if not host_allowed(url, self.extra_hosts):
                sys.stderr.write(
                    f"srelab: refusing target {url!r}: only loopback, the lab proxy (traefik) or "
                    "--allowed-hosts are load targets\n"
                )
                sys.exit(3)
        ReaderUser.weight = max(0, opts.reader_weight)
        WriterUser.weight = max(0, opts.writer_weight)
        if opts.events_file:
            self.events_fh = open(opts.events_file, "a", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115
        if opts.writes_file:
            self.writes_fh = open(opts.writes_file, "a", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115
        if self.events_fh or self.writes_fh:
            gevent.spawn(self._flusher)
        # Pick the shape by name (the web UI's class picker can override it).
        wanted = SHAPE_CLASSES[opts.load_shape]
        shapes = environment.available_shape_classes or {}
        if wanted in shapes and environment.runner is not None:
            shape = shapes[wanted]
            shape.runner = environment.runner
            environment.shape_class = shape

    def on_test_start(self, environment: Any, **_kw: Any) -> None:
        if self.events_fh is not None:
            self.events_fh.write(marker_line(MARKER_START, time.time()) + "\n")
            self.events_fh.flush()

    def on_test_stop(self, environment: Any, **_kw: Any) -> None:
        if self.events_fh is not None:
            self.events_fh.write(marker_line(MARKER_STOP, time.time()) + "\n")
        self._flush()

    def on_quitting(self, environment: Any, **_kw: Any) -> None:
        self._flush()

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        exception: BaseException | None = None,
        **_kw: Any,
    ) -> None:
        status = 0
        replica = ""
        if response is not None:
            status = getattr(response, "status_code", 0) or 0
            headers = getattr(response, "headers", None)
            if headers:
                replica = headers.get("X-Served-By") or headers.get("x-served-by") or ""
        if self.events_fh is not None:
            exc_type = type(exception).__name__ if exception is not None else ""
            exc_msg = str(exception) if exception is not None else ""
            line = event_line(time.time(), name, status, response_time, replica, exc_type, exc_msg)
            self.events_fh.write(line + "\n")
        self.completed += 1
        if self.budget and self.completed >= self.budget and not self.quitting:
            self.quitting = True
            runner = self.runner
            if runner is not None:
                log.info("request budget of %d reached, stopping", self.budget)
                gevent.spawn_later(0.05, runner.quit)

    # ----------------------------------------------------------------------- files

    def _flush(self) -> None:
        for fh in (self.events_fh, self.writes_fh):
            if fh is not None:
                fh.flush()

    def _flusher(self) -> None:
        """Flush the files 4 times a second; record the number of live users once a second."""
        ticks = 0
        while True:
            gevent.sleep(0.25)
            ticks += 1
            runner = self.runner
            if ticks % 4 == 0 and self.events_fh is not None and runner is not None:
                self.events_fh.write(marker_line(MARKER_USERS, time.time(), runner.user_count) + "\n")
            self._flush()


RUN = RunListener()
RUN.register(events)


# --------------------------------------------------------------------------- users


class _ItemsUser(FastHttpUser):
    abstract = True

    def __init__(self, environment: Any) -> None:
        opts = environment.parsed_options
        timeout = float(getattr(opts, "request_timeout", 5.0) or 5.0)
        self.network_timeout = timeout
        self.connection_timeout = timeout
        target = RUN.next_target()
        if target is not None:
            self.host = target
        super().__init__(environment)
        rate = float(getattr(opts, "user_rate", 0.0) or 0.0)
        # constant_throughput keeps its clock on the user it is called with: one function per user.
        self._paced = constant_throughput(rate) if rate > 0 else None

    def wait_time(self) -> float:
        if self._paced is not None:
            return float(self._paced(self))
        opts = self.environment.parsed_options
        lo = float(getattr(opts, "wait_min", 0.0) or 0.0)
        hi = float(getattr(opts, "wait_max", 0.0) or 0.0)
        return random.uniform(lo, hi) if hi > 0 else 0.0

    def on_start(self) -> None:
        if not host_allowed(self.host or "", RUN.extra_hosts):
            if not RUN.bad_host_logged:
                RUN.bad_host_logged = True
                log.error("refusing target %r: only loopback, traefik or --allowed-hosts", self.host)
            raise StopUser()

    def _budget(self) -> None:
        if not RUN.take():
            raise StopUser()

    def list_items(self) -> None:
        self._budget()
        parse = len(RUN.seen_ids) < 100 or random.random() < 0.05
        with self.client.get("/items", name=EP_LIST, catch_response=True) as resp:
            if parse and resp.status_code == 200:
                try:
                    body = json.loads(resp.content or b"null")
                    items = body.get("items", []) if isinstance(body, dict) else body
                    for item in items or []:
                        if isinstance(item, dict) and item.get("id") is not None:
                            RUN.seen_ids.append(str(item["id"]))
                except (ValueError, AttributeError, TypeError):
                    resp.failure("GET /items: body is not the expected JSON")


class ReaderUser(_ItemsUser):
    """GET /items, and GET /items/<id> of ids seen in listings or written by writers."""

    weight = 4

    @task(3)
    def listing(self) -> None:
        self.list_items()

    @task(2)
    def one(self) -> None:
        if not RUN.seen_ids:
            self.list_items()
            return
        self._budget()
        item_id = random.choice(RUN.seen_ids)
        self.client.get(f"/items/{item_id}", name=EP_GET)


class ListUser(_ItemsUser):
    """GET /items only: the `hey -n 100000 -c 10` preset and the bench's listing load."""

    weight = 1

    @task
    def listing(self) -> None:
        self._budget()
        self.client.get("/items", name=EP_LIST)


class WriterUser(_ItemsUser):
    """POST /items; one unique Idempotency-Key per logical write, reused by its retries."""

    weight = 1

    @task
    def write(self) -> None:
        opts = self.environment.parsed_options
        retries = max(0, int(getattr(opts, "write_retries", 0) or 0))
        key = uuid.uuid4().hex
        for attempt in range(1, retries + 2):
            self._budget()
            status, acknowledged = self._post(key, attempt)
            if acknowledged or (400 <= status < 500 and status not in (404, 408, 429)):
                return
            if attempt <= retries:
                gevent.sleep(min(0.05 * 2**attempt, 1.0))

    def _post(self, key: str, attempt: int) -> tuple[int, bool]:
        item_id: str | None = None
        error: str | None = None
        item_name = f"load-{key[:16]}"
        with self.client.post(
            "/items",
            json={"name": item_name},
            headers={"Idempotency-Key": key},
            name=EP_POST,
            catch_response=True,
        ) as resp:
            status = resp.status_code or 0
            if 200 <= status < 300:
                try:
                    body = json.loads(resp.content or b"null")
                    item_id = (
                        str(body["id"]) if isinstance(body, dict) and body.get("id") is not None else None
                    )
                except ValueError:
                    item_id = None
                if item_id is None:
                    error = "2xx without an id in the body"
                    resp.failure(error)
            else:
                exc = getattr(resp, "error", None) or resp.request_meta.get("exception")
                error = f"{type(exc).__name__}: {clean(str(exc))}" if exc else f"HTTP {status}"
            replica = ""
            if resp.headers:
                replica = resp.headers.get("X-Served-By") or ""
            latency = resp.request_meta.get("response_time")
        if item_id is not None:
            RUN.seen_ids.append(item_id)
        if RUN.writes_fh is not None:
            line = write_line(
                t=time.time(), key=key, name=item_name, attempt=attempt, status=status, item_id=item_id,
                replica=replica, latency_ms=latency, error=error,
            )  # fmt: skip
            RUN.writes_fh.write(line + "\n")
        return status, item_id is not None


# --------------------------------------------------------------------------- shapes


def _run_time(shape: LoadTestShape) -> float:
    opts = shape.runner.environment.parsed_options if shape.runner else None
    return float(getattr(opts, "run_time", None) or DEFAULT_RUN_TIME_S)


def _users_rate(shape: LoadTestShape) -> tuple[int, float]:
    opts = shape.runner.environment.parsed_options if shape.runner else None
    users = int(getattr(opts, "num_users", None) or 1)
    rate = float(getattr(opts, "spawn_rate", None) or users)
    return max(1, users), max(0.1, rate)


class SteadyShape(LoadTestShape):
    """Ramp to --users at --spawn-rate and hold until --run-time."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        users, rate = _users_rate(self)
        n = steady_users(self.get_run_time(), users, _run_time(self))
        return None if n is None else (n, rate)


class StepShape(LoadTestShape):
    """--steps equal steps up to --users, each --run-time/--steps long."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        users, rate = _users_rate(self)
        opts = self.runner.environment.parsed_options if self.runner else None
        steps = int(getattr(opts, "steps", 4) or 4)
        n = step_users(self.get_run_time(), users, _run_time(self), steps)
        return None if n is None else (n, rate)


class SpikeShape(LoadTestShape):
    """A quarter of --users, then all of them for the middle third of --run-time, then back."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        users, _rate = _users_rate(self)
        n = spike_users(self.get_run_time(), users, _run_time(self))
        # Spikes arrive at once: spawn the difference within a second.
        return None if n is None else (n, float(max(users, 1)))

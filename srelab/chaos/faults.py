"""Faults on containers through python-on-whales, and the restore action of each one.

Every restore is idempotent (it checks the container's state first), so it can run twice: once
on schedule and once more from the runner's safety net on Ctrl-C or an error.

| action     | inject                                          | restore                          |
|------------|-------------------------------------------------|----------------------------------|
| kill       | `docker kill` (SIGKILL; a manual stop)          | start                            |
| crash      | SIGKILL of the main PID from the host           | ensure running (restart policy)  |
| stop       | `docker stop -t grace_s` (SIGTERM, then KILL)   | start                            |
| restart    | `docker restart -t grace_s`                     | ensure running                   |
| pause      | `docker pause`                                  | unpause                          |
| disconnect | `docker network disconnect <project>_<net>`     | connect: same aliases, fixed IP  |
| delay      | helper: `tc qdisc replace ... netem delay`      | helper: `tc qdisc del`           |
| loss       | helper: `tc qdisc replace ... netem loss`       | helper: `tc qdisc del`           |
| cpu        | `docker exec` N busy loops, each `timeout`-bound | `docker exec` kill them          |

The network helper (images/local/netem) runs with `--network container:<id> --cap-add NET_ADMIN`.
Where the kernel has no sch_netem module (`Specified qdisc kind is unknown`), loss falls back to
an iptables `statistic` DROP rule and delay to a `tbf` rate limit (rate_kbit); the journal records
which method was used. The CPU loops are bounded by `timeout -s KILL <duration + 5 s>` inside the
target, so they end even if no restore ever runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from python_on_whales import Container, DockerClient
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run as run_docker

from srelab.chaos.model import Action, Fault
from srelab.errors import LabError, last_line
from srelab.stack.settings import LOCAL_REPO, ROOT, Settings

HELPER_DIR = ROOT / "images" / "local" / "netem"
HELPER_TAG = "bookworm-1"
HELPER_LABEL = "srelab.chaos"
CPU_MARK = "srelab-cpu-burn"
RULE_COMMENT = "srelab-chaos"
NO_NETEM = "qdisc kind is unknown"


CPU_START_WAIT_S = 3.0  # how long the inject waits for its busy loops to show up


class FaultError(LabError):
    """An inject or restore action that failed."""


class NoBusyLoops(FaultError):
    """A CPU restore that found no busy loop to kill (failed: the fault may never have run)."""


def helper_image_name() -> str:
    return f"{LOCAL_REPO}/netem:{HELPER_TAG}"


@dataclass
class Snapshot:
    """A container's state before the faults: what restore and verification compare against."""

    service: str
    container_id: str
    name: str
    running: bool
    paused: bool
    health: str | None  # None when the container has no healthcheck
    started_at: datetime | None
    pid: int | None
    networks: dict[str, list[str]] = field(default_factory=dict)  # network -> aliases
    macs: dict[str, str] = field(default_factory=dict)  # network -> MAC address
    # network -> the fixed IPv4 address compose gave it (IPAMConfig; the Redis HA nodes and
    # Sentinels): a reconnect without it gets another address and is lost to the Sentinels.
    ips: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    detail: str
    method: str = ""


class FaultDriver:
    """Injects and restores faults on one compose project's containers."""

    def __init__(self, docker: DockerClient, settings: Settings) -> None:
        self.docker = docker
        self.settings = settings
        self.project = settings.project
        self.netem_missing = False  # learnt from the first netem attempt of this run

    # -- containers -------------------------------------------------------------------------------
    def container(self, service: str) -> Container:
        found = self.docker.container.list(
            all=True,
            filters=[
                ("label", f"com.docker.compose.project={self.project}"),
                ("label", f"com.docker.compose.service={service}"),
            ],
        )
        if not found:
            raise FaultError(
                f"no container for service {service!r} in project {self.project!r}: "
                "is the stack up (`srelab up`)?"
            )
        return found[0]

    def snapshot(self, service: str) -> Snapshot:
        c = self.container(service)
        c.reload()
        state = c.state
        nets = c.network_settings.networks or {}
        short = c.id[:12]
        return Snapshot(
            service=service,
            container_id=c.id,
            name=c.name,
            running=bool(state.running),
            paused=bool(state.paused),
            health=str(state.health.status) if state.health is not None else None,
            started_at=state.started_at,
            pid=state.pid,
            networks={name: [a for a in (net.aliases or []) if a != short] for name, net in nets.items()},
            macs={name: net.mac_address or "" for name, net in nets.items()},
            ips={
                name: net.ipam_config.ipv4_address
                for name, net in nets.items()
                if net.ipam_config is not None and net.ipam_config.ipv4_address
            },
        )

    def network_name(self, snap: Snapshot, network: str) -> str:
        for candidate in (network, f"{self.project}_{network}"):
            if candidate in snap.networks:
                return candidate
        raise FaultError(
            f"{snap.service} is not on network {network!r} "
            f"(its networks: {', '.join(sorted(snap.networks)) or 'none'})"
        )

    # -- helper image -------------------------------------------------------------------------------
    def ensure_helper(self) -> str:
        """The network helper image; built from images/local/netem when missing."""
        name = helper_image_name()
        if self.docker.image.exists(name):
            return name
        base = self.settings.local_image(self.settings.python_image)
        if not self.docker.image.exists(base):
            raise FaultError(f"the network helper needs the base image {base}: run `srelab images`")
        try:
            self.docker.legacy_build(HELPER_DIR, tags=[name], build_args={"BASE_IMAGE": base})
        except DockerException as exc:
            raise FaultError(f"building {name} failed: {last_line(exc)}") from None
        return name

    def _helper(self, script: str, env: dict[str, str], **run: object) -> str:
        """Run `script` in a short-lived helper container; its output, or FaultError with it.

        Detached, then waited for and its logs read: the docker CLI's own stderr never leaks to the
        terminal and the script's errors (stderr merged into stdout) reach the message.
        """
        image = self.ensure_helper()
        try:
            helper = self.docker.run(
                image,
                ["sh", "-c", "exec 2>&1; " + script],
                detach=True,
                envs=env,
                labels={HELPER_LABEL: "helper", "srelab.chaos.project": self.project},
                **run,  # type: ignore[arg-type]
            )
        except DockerException as exc:
            raise FaultError(last_line(exc)) from None
        try:
            code = self.docker.container.wait(helper)
            output = str(self.docker.container.logs(helper) or "").strip()
        except DockerException as exc:
            raise FaultError(last_line(exc)) from None
        finally:
            with contextlib.suppress(DockerException):
                self.docker.container.remove(helper, force=True)
        if code != 0:
            raise FaultError(f"helper exited {code}: {last_line(output, 'no output')}")
        return output

    def _net_helper(self, snap: Snapshot, script: str, env: dict[str, str]) -> str:
        return self._helper(script, env, networks=[f"container:{snap.container_id}"], cap_add=["NET_ADMIN"])

    # -- inject -----------------------------------------------------------------------------------
    def inject(self, fault: Fault, snap: Snapshot) -> Outcome:
        c = self.container(snap.service)
        try:
            match fault.action:
                case Action.KILL:
                    self.docker.container.kill(c)
                    return Outcome("SIGKILL through the engine (a manual stop: no automatic restart)")
                case Action.CRASH:
                    return self._crash(c)
                case Action.STOP:
                    self.docker.container.stop(c, time=fault.grace_s)
                    return Outcome(f"stopped (SIGTERM, SIGKILL after {fault.grace_s} s)")
                case Action.RESTART:
                    self.docker.container.restart(c, time=fault.grace_s)
                    return Outcome(f"restarted (SIGTERM, SIGKILL after {fault.grace_s} s)")
                case Action.PAUSE:
                    self.docker.container.pause(c)
                    return Outcome("paused (cgroup freezer)")
                case Action.DISCONNECT:
                    net = self.network_name(snap, fault.network or "")
                    self.docker.network.disconnect(net, c)
                    return Outcome(f"disconnected from {net}")
                case Action.DELAY | Action.LOSS:
                    return self._netem(fault, snap)
                case Action.CPU:
                    return self._cpu(fault, c)
        except DockerException as exc:
            raise FaultError(f"{fault.action.value} {snap.service}: {last_line(exc)}") from None
        raise FaultError(f"unknown action {fault.action}")  # pragma: no cover

    def _crash(self, c: Container) -> Outcome:
        c.reload()
        pid = c.state.pid
        if not c.state.running or not pid:
            raise FaultError(f"crash {c.name}: not running")
        cgroup = Path(f"/proc/{pid}/cgroup")
        try:  # only signal a host PID that really is this container's (same PID namespace)
            if c.id in cgroup.read_text():
                self._same_pid(c, pid)
                os.kill(pid, signal.SIGKILL)
                return Outcome(
                    f"SIGKILL of host PID {pid} (a crash: the restart policy applies)", "host kill"
                )
        except OSError:
            pass
        self._same_pid(c, pid)  # the helper starts seconds later: the PID may belong to another now
        self._helper(f"kill -9 {pid}", {}, pid="host")
        return Outcome(f"SIGKILL of host PID {pid} from a --pid host helper (a crash)", "helper kill")

    def _same_pid(self, c: Container, pid: int) -> None:
        """Right before a kill: the container still runs with main PID `pid`, or FaultError."""
        c.reload()
        if not c.state.running or c.state.paused:
            raise FaultError(f"crash {c.name}: no longer running: PID {pid} not killed")
        if c.state.pid != pid:
            raise FaultError(
                f"crash {c.name}: its main PID changed ({pid} -> {c.state.pid}): PID {pid} not killed"
            )

    def _devices_script(self) -> str:
        return (
            'devs=""; for i in /sys/class/net/*; do n=${i##*/}; [ "$n" = lo ] && continue; '
            'if [ -z "$MAC" ] || [ "$(cat $i/address)" = "$MAC" ]; then devs="$devs $n"; fi; done; '
            '[ -n "$devs" ] || { echo "no interface with MAC $MAC" >&2; exit 3; }; '
        )

    def _netem(self, fault: Fault, snap: Snapshot) -> Outcome:
        mac = snap.macs[self.network_name(snap, fault.network)] if fault.network else ""
        env = {"MAC": mac}
        if fault.action == Action.DELAY:
            netem = f"delay {fault.delay_ms}ms" + (f" {fault.jitter_ms}ms" if fault.jitter_ms else "")
        else:
            netem = f"loss {fault.loss_pct:g}%"
        where = f"{fault.network} interface" if fault.network else "every interface"
        script = self._devices_script() + (
            f'for d in $devs; do tc qdisc replace dev $d root netem {netem} || exit 4; done; echo "$devs"'
        )
        if not self.netem_missing:
            try:
                devs = self._net_helper(snap, script, env)
                return Outcome(f"netem {netem} on {where} ({devs.strip()})", "netem")
            except FaultError as exc:
                if NO_NETEM not in str(exc):
                    raise
                self.netem_missing = True
        # No sch_netem in this kernel: the closest stand-ins, recorded as such.
        if fault.action == Action.LOSS:
            prob = fault.loss_pct / 100.0  # type: ignore[operator]
            script = self._devices_script() + (
                f"for d in $devs; do iptables -A OUTPUT -o $d -m statistic --mode random "
                f"--probability {prob:.4f} -m comment --comment {RULE_COMMENT} -j DROP || exit 4; done; "
                'echo "$devs"'
            )
            devs = self._net_helper(snap, script, env)
            return Outcome(
                f"no sch_netem in the kernel: iptables DROP {fault.loss_pct:g}% of egress "
                f"packets on {where} ({devs.strip()})",
                "iptables",
            )
        script = self._devices_script() + (
            f"for d in $devs; do tc qdisc replace dev $d root tbf rate {fault.rate_kbit}kbit "
            f'burst 4kb latency 2s || exit 4; done; echo "$devs"'
        )
        devs = self._net_helper(snap, script, env)
        return Outcome(
            f"no sch_netem in the kernel: tbf rate limit {fault.rate_kbit} kbit/s on {where} "
            f"({devs.strip()}) instead of a {fault.delay_ms} ms delay",
            "tbf",
        )

    def _cpu(self, fault: Fault, c: Container) -> Outcome:
        bound = int(fault.duration) + 5
        script = (
            f"for i in $(seq {fault.workers}); do "
            f"timeout -s KILL {bound} sh -c 'while :; do :; done' {CPU_MARK} & done; wait"
        )
        self.docker.container.execute(c, ["sh", "-c", script], detach=True)
        # A detached exec reports nothing: count the loops (each is its `timeout` and its `sh`).
        deadline = time.monotonic() + CPU_START_WAIT_S
        while (found := self._busy_loops(c, kill=False)) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        if found == 0:
            raise FaultError(f"cpu {c.name}: no busy loop running {CPU_START_WAIT_S:g} s after the exec")
        return Outcome(
            f"{fault.workers} busy loop(s) via docker exec, each bounded to {bound} s "
            f"({found} process(es) seen)",
            "exec",
        )

    def _busy_loops(self, c: Container, kill: bool) -> int:
        """How many of the CPU fault's processes run in `c` (killed first when `kill`)."""
        act = "kill -9 ${p#/proc/} 2>/dev/null && " if kill else ""
        scan = (
            "n=0; for p in /proc/[0-9]*; do "
            f"if tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q '{CPU_MARK[:-1]}[{CPU_MARK[-1]}]'; then "
            f"{act}n=$((n+1)); fi; done; echo $n"
        )
        output = str(self.docker.container.execute(c, ["sh", "-c", scan])).strip()
        try:
            return int(output.splitlines()[-1])
        except (ValueError, IndexError):
            raise FaultError(f"cpu {c.name}: unexpected process count {output!r}") from None

    # -- restore ----------------------------------------------------------------------------------
    def restore(self, fault: Fault, snap: Snapshot) -> Outcome:
        """Undo `fault` on `snap.service`; safe to call when nothing (or everything) was undone."""
        c = self.container(snap.service)
        c.reload()
        try:
            match fault.action:
                case Action.KILL | Action.STOP:
                    return self._ensure_running(c, "started", "already running")
                case Action.CRASH | Action.RESTART:
                    return self._ensure_running(
                        c,
                        "was not running: started",
                        f"running again (started {c.state.started_at:%H:%M:%S.%f})"
                        if c.state.started_at
                        else "running again",
                    )
                case Action.PAUSE:
                    if c.state.paused:
                        self.docker.container.unpause(c)
                        return Outcome("unpaused")
                    return Outcome("not paused")
                case Action.DISCONNECT:
                    net = self.network_name(snap, fault.network or "")
                    if net in (c.network_settings.networks or {}):
                        return Outcome(f"already on {net}")
                    ip = snap.ips.get(net)
                    self._connect(net, c, snap.networks[net], ip)
                    return Outcome(
                        f"reconnected to {net} (aliases {', '.join(snap.networks[net])}"
                        + (f"; fixed address {ip})" if ip else ")")
                    )
                case Action.DELAY | Action.LOSS:
                    return self._unnetem(fault, snap, c)
                case Action.CPU:
                    return self._uncpu(c)
        except DockerException as exc:
            raise FaultError(f"restore {fault.action.value} {snap.service}: {last_line(exc)}") from None
        raise FaultError(f"unknown action {fault.action}")  # pragma: no cover

    def _ensure_running(self, c: Container, started: str, running: str) -> Outcome:
        if c.state.paused:
            self.docker.container.unpause(c)
        if c.state.running or c.state.restarting:
            return Outcome(running)
        self.docker.container.start(c)
        return Outcome(started)

    def _connect(self, network: str, c: Container, aliases: list[str], ip: str | None = None) -> None:
        # python-on-whales' network.connect takes one alias; the CLI takes several.
        cmd: list[str] = [*self.docker.docker_cmd, "network", "connect"]
        for alias in aliases:
            cmd += ["--alias", alias]
        if ip:  # the address it had (IPAMConfig), not the next free one
            cmd += ["--ip", ip]
        run_docker([*cmd, network, c.id])

    def _unnetem(self, fault: Fault, snap: Snapshot, c: Container) -> Outcome:
        if not c.state.running:
            return Outcome("target not running: nothing to remove (its network namespace is gone)")
        mac = snap.macs[self.network_name(snap, fault.network)] if fault.network else ""
        script = self._devices_script() + (
            "for d in $devs; do tc qdisc del dev $d root 2>/dev/null; done; "
            f"iptables -S OUTPUT 2>/dev/null | grep -- '{RULE_COMMENT}' | sed 's/^-A/-D/' | "
            "while read -r rule; do iptables $rule; done; "
            "left=$(for d in $devs; do tc qdisc show dev $d; done | grep -E 'netem|tbf'); "
            f"rules=$(iptables -S OUTPUT 2>/dev/null | grep -- '{RULE_COMMENT}'); "
            '[ -z "$left$rules" ] || { echo "still there: $left $rules" >&2; exit 5; }; echo "$devs"'
        )
        devs = self._net_helper(snap, script, {"MAC": mac})
        return Outcome(f"removed qdisc/rules on {devs.strip()} (verified)")

    def _uncpu(self, c: Container) -> Outcome:
        if not c.state.running:
            return Outcome("target not running: no busy loops left")
        killed = self._busy_loops(c, kill=True)
        if killed == 0:  # nothing to undo is not a restore: the loops never ran, or ran elsewhere
            raise NoBusyLoops(f"restore cpu {c.name}: killed 0 busy-loop processes (none found)")
        return Outcome(f"killed {killed} busy-loop process(es)")

    # -- verification -----------------------------------------------------------------------------
    def verify(self, snap: Snapshot, deadline: float) -> list[str]:
        """Problems left once `deadline` (monotonic) passes: running, unpaused, healthy, networks."""
        problems: list[str] = []
        while True:
            problems = []
            try:
                c = self.container(snap.service)
                c.reload()
            except (FaultError, DockerException) as exc:
                problems = [f"{snap.service}: {exc}"]
            else:
                state = c.state
                if not state.running:
                    problems.append(f"{snap.service}: not running ({state.status})")
                if state.paused:
                    problems.append(f"{snap.service}: paused")
                if snap.health is not None:
                    health = str(state.health.status) if state.health is not None else "none"
                    if health != "healthy":
                        problems.append(f"{snap.service}: {health}, not healthy")
                nets = c.network_settings.networks or {}
                missing = sorted(set(snap.networks) - set(nets))
                if missing:
                    problems.append(f"{snap.service}: not on {', '.join(missing)}")
                for net, ip in snap.ips.items():
                    now = nets.get(net)
                    if now is not None and now.ip_address and now.ip_address != ip:
                        problems.append(
                            f"{snap.service}: on {net} with {now.ip_address}, not its address {ip}"
                        )
            if not problems or time.monotonic() >= deadline:
                return problems
            time.sleep(0.5)

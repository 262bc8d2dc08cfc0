"""Scale benchmark: validate, render and apply a generated site of 10, 100 and 1,000 OPDs,
and the forwarding throughput through the hub with those rulesets.

    sudo .venv/bin/python bench/scale.py            # sizes 10, 100, 1000; 3 s iperf3 runs
    sudo .venv/bin/python bench/scale.py --quick    # sizes 10 and 100; 1 s iperf3 runs (smoke run)
    .venv/bin/python bench/scale.py --no-kernel     # validate and render only; no root needed

Each OPD has its own /24, its own link `o{i}` and five policies (a service, a scheduled share
with the next OPD, SMTP to the internet rejected, SSH to the previous OPD dropped and logged);
two group policies close the list, `opds -> internet accept` last, so an OPD's internet
traffic meets its chain's last rule.

Times are measured in this process with time.perf_counter() after a warm-up (importing
pyroute2 alone costs about 0.35 s once per process and is not counted); each is the median of
--repeat runs. "full apply" starts from a hub with every interface present but no pnsbox table,
links down, no addresses or routes and forwarding off; "unchanged" re-applies the same config
and must find nothing to do.

End to end (issue 10 §6): `pnsbox apply -c DIR --netns NS` run as a user runs it, timed from
outside, at the largest size, without and with pnsboxd: a first apply, an unchanged one, one
OPD's rate changed, one new policy between two OPDs (`--cli-only` for just this; `--phases`
adds where an in-process apply spends its time, and the same inside one warm pnsboxd Daemon).

Throughput: iperf3 TCP from a host on OPD 0's link, through the hub, to the "internet"
(198.51.100.1 on the uplink's far side), in one hub namespace holding every interface of the
largest site, with (a) no pnsbox table, (b) the smallest site's ruleset and (c) the largest
site's ruleset, interleaved a, b, c, a, b, c, ... to cancel drift.

Everything runs in network namespaces named `pnsbench-<pid>-*`, removed on exit; the host's
own namespace is never changed. A benchmark, not a test: it exits 0 whether or not the goals
are met (2 when it cannot run at all).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchkit import Namespaces, code_version, in_ns, ip_batch, machine, sh, unwind_on_sigterm

from pnsbox.facts import Facts
from pnsbox.load import load_text
from pnsbox.model import Config
from pnsbox.render.nft import Ruleset
from pnsbox.render.site import site
from pnsbox.validate import build

SIZES = (10, 100, 1000)
QUICK_SIZES = (10, 100)
GOAL_APPLY_S = 1.0  # full apply of 1,000 OPDs
GOAL_REAPPLY_S = 0.100  # re-apply of an unchanged site
GOAL_RATIO = 0.95  # throughput, 1,000-OPD ruleset vs 10-OPD ruleset
GOAL_SIZE = 1000
# End to end, as a user times `pnsbox apply -c DIR --netns NS` (issue 10 §6), at GOAL_SIZE OPDs.
CLI_GOALS = {"first apply": 1.0, "unchanged re-apply": 0.100, "one OPD's rate change": 0.100,
             "one new policy between two OPDs": 0.500}
CLI_MODES = ("no daemon", "through pnsboxd")
# The commands run as installed: with their bytecode cached (an environment that sets
# PYTHONDONTWRITEBYTECODE would have every run compile pnsbox's sources, ~60 ms, again).
CLI_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

UPLINK_DEV = "wan0"
UPLINK_ADDR = "198.51.100.2/24"
INTERNET_ADDR = "198.51.100.1"
SERVICE_DEV = "dc0"
TOOLS = {"ip": "iproute2", "tc": "iproute2", "nft": "nftables", "iperf3": "iperf3", "sysctl": "procps"}


def render(config: Config) -> Ruleset:
    """The ruleset as apply renders it on this machine's kernel (pfifo leaves, no nft queue)."""
    return site(config, Facts(("pfifo",)), None).ruleset


# --- the generated site ------------------------------------------------------


def opd_subnet(i: int) -> str:
    """OPD i's subnet: 10.64.0.0/24, 10.64.1.0/24, ... 250 per second octet, never overlapping."""
    return f"10.{64 + i // 250}.{i % 250}.0/24"


def opd_device(i: int) -> str:
    return f"o{i}"


def site_yaml(n: int) -> str:
    """A site of `n` OPDs as YAML text; the site of n OPDs is a prefix of the one of m > n."""
    lines = [
        "site:",
        f"  name: bench-{n}",
        "  timezone: Asia/Jakarta",
        f"  uplink: {{interface: {UPLINK_DEV}, address: {UPLINK_ADDR}, gateway: {INTERNET_ADDR}, "
        "bandwidth: 1gbit}",
        "services:",
        "  simpeg: {addresses: [10.0.10.10], ports: [tcp/443, tcp/80], "
        f"link: {{interface: {SERVICE_DEV}, address: 10.0.10.1/24}}}}",
        "  mail: {addresses: [10.0.10.20], ports: [tcp/25, tcp/587, tcp/993], "
        f"link: {{interface: {SERVICE_DEV}, address: 10.0.10.1/24}}}}",
        "  dns: {addresses: [10.0.10.53], ports: [udp/53, tcp/53], "
        f"link: {{interface: {SERVICE_DEV}, address: 10.0.10.1/24}}}}",
        "schedules:",
        '  office-hours: {days: [mon, tue, wed, thu, fri], from: "07:30", to: "16:00"}',
        "opds:",
    ]
    for i in range(n):
        lines.append(f"  opd{i}: {{name: OPD {i}, subnet: {opd_subnet(i)}, link: {{interface: {opd_device(i)}}}, "
                     "bandwidth: {guaranteed: 1mbit, ceiling: 100mbit}}")
    lines.append("policies:")
    for i in range(n):
        nxt, prev = (i + 1) % n, (i - 1) % n
        lines += [
            f"  - {{name: opd{i}-mail, from: opd{i}, to: mail, action: accept}}",
            f"  - {{name: opd{i}-dns, from: opd{i}, to: dns, ports: [udp/53], action: accept}}",
            f"  - {{name: opd{i}-files, from: opd{i}, to: opd{nxt}, ports: [tcp/445], action: accept, "
            "schedule: office-hours}",
            f"  - {{name: opd{i}-no-smtp, from: opd{i}, to: internet, ports: [tcp/25], action: reject}}",
            f"  - {{name: opd{i}-no-ssh, from: opd{i}, to: opd{prev}, ports: [tcp/22], action: drop, log: true}}",
        ]
    lines += [
        "  - {name: simpeg-for-all, from: opds, to: simpeg, action: accept}",
        "  - {name: internet, from: opds, to: internet, action: accept}",  # last: the worst case
    ]
    return "\n".join(lines) + "\n"


def devices(n: int) -> list[str]:
    return [opd_device(i) for i in range(n)] + [SERVICE_DEV, UPLINK_DEV]


# --- timing ------------------------------------------------------------------


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def validate(text: str) -> Config:
    return build(load_text(text))


def fmt_time(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_rate(bps: float) -> str:
    return f"{bps / 1e9:.2f} Gbit/s"


@dataclass
class SizeResult:
    n: int
    policies: int = 0
    nft_lines: int = 0
    validate: list[float] = field(default_factory=list)
    render: list[float] = field(default_factory=list)
    apply_full: list[float] = field(default_factory=list)
    apply_unchanged: list[float] = field(default_factory=list)
    full_steps: dict[str, int] = field(default_factory=dict)  # step kind -> count


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# --- namespaces (never the host's) ---------------------------------------------


def build_hub(spaces: Namespaces, tag: str, n: int, attach: dict[str, tuple[str, str]] | None = None) -> str:
    """A hub namespace with every interface a site of `n` OPDs names, as veth pairs.

    Peers go to a sink namespace, except those in `attach`: device -> (namespace, peer name).
    """
    hub = spaces.add(f"hub{tag}")
    sink = spaces.add(f"sink{tag}")
    attach = attach or {}
    commands = []
    for device in devices(n):
        peer_ns, peer = attach.get(device, (sink, f"p-{device}"))
        commands.append(f"link add {device} type veth peer name {peer} netns {peer_ns}")
    ip_batch(hub, commands)
    sh(in_ns(hub, "sysctl", "-qw", "net.ipv4.ip_forward=0"))
    return hub


def reset_hub(hub: str, n: int, state_dir: Path) -> None:
    """Back to a fresh hub: no pnsbox table, links down, no addresses or routes, no forwarding."""
    sh(in_ns(hub, "nft", "delete", "table", "inet", "pnsbox"), check=False)
    ip_batch(hub, [f"link set dev {device} down" for device in devices(n)])
    sh(["ip", "-n", hub, "-4", "address", "flush", "scope", "global"])
    sh(in_ns(hub, "sysctl", "-qw", "net.ipv4.ip_forward=0"))
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)


# --- the measurements ----------------------------------------------------------


def measure_pure(result: SizeResult, text: str, repeat: int) -> Config:
    config = None
    for _ in range(repeat):
        seconds, config = timed(validate, text)
        result.validate.append(seconds)
    ruleset = None
    for _ in range(repeat):
        seconds, ruleset = timed(render, config)
        result.render.append(seconds)
    result.policies = len(config.policies)
    result.nft_lines = len(ruleset.text.splitlines())
    return config


def measure_apply(result: SizeResult, config: Config, hub: str, state_dir: Path, repeat: int) -> None:
    from pnsbox.apply.pipeline import apply

    for _ in range(repeat):
        reset_hub(hub, result.n, state_dir)
        seconds, done = timed(apply, config, netns=hub, state_dir=str(state_dir))
        if not any(step.kind == "ruleset" for step in done.steps):
            raise RuntimeError(f"{result.n} OPDs: a full apply did not load the ruleset")
        result.apply_full.append(seconds)
        result.full_steps = dict(Counter(step.kind for step in done.steps))
    for _ in range(repeat):
        seconds, done = timed(apply, config, netns=hub, state_dir=str(state_dir))
        if done.steps:
            raise RuntimeError(f"{result.n} OPDs: re-applying an unchanged site still had "
                               f"{len(done.steps)} steps, first: {done.steps[0].text}")
        result.apply_unchanged.append(seconds)


def remove_shaping(hub: str) -> int:
    """Delete every non-default qdisc in the hub (HTB roots, ingress); returns how many devices."""
    qdiscs = json.loads(sh(["tc", "-n", hub, "-j", "qdisc", "show"]).stdout or "[]")
    commands, shaped = [], set()
    for qdisc in qdiscs:
        kind, dev = qdisc.get("kind"), qdisc.get("dev")
        if kind in ("ingress", "clsact"):
            commands.append(f"qdisc del dev {dev} {kind}")
        elif qdisc.get("root") and kind not in ("noqueue", "pfifo_fast", "mq", "fq_codel", "fq", "pfifo"):
            commands.append(f"qdisc del dev {dev} root")
        else:
            continue
        shaped.add(dev)
    if commands:
        sh(["tc", "-n", hub, "-batch", "-"], stdin="\n".join(commands) + "\n")
    return len(shaped)


def iperf(client_ns: str, seconds: int) -> float:
    """One iperf3 TCP run from the OPD host to the internet; received bits per second."""
    proc = sh(in_ns(client_ns, "iperf3", "-c", INTERNET_ADDR, "-t", str(seconds), "-J",
                    "--connect-timeout", "3000"), check=False)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"iperf3 gave no JSON: {proc.stderr.strip() or proc.stdout[:200]}") from exc
    if "error" in report:
        raise RuntimeError(f"iperf3: {report['error']}")
    return float(report["end"]["sum_received"]["bits_per_second"])


def measure_throughput(spaces: Namespaces, big: Config, small: Config, state_dir: Path,
                       repeat: int, seconds: int) -> dict[str, list[float]]:
    from pnsbox.apply import nft
    from pnsbox.apply.pipeline import apply

    n = len(big.opds)
    host = spaces.add("opdhost")
    internet = spaces.add("internet")
    hub = build_hub(spaces, "-fwd", n, {opd_device(0): (host, "eth0"), UPLINK_DEV: (internet, "eth0")})
    host_addr = f"{opd_subnet(0).rsplit('.', 1)[0]}.2/24"
    gateway = f"{opd_subnet(0).rsplit('.', 1)[0]}.1"
    ip_batch(host, ["link set eth0 up", f"address add {host_addr} dev eth0",
                    f"route add default via {gateway}"])
    ip_batch(internet, ["link set eth0 up", f"address add {INTERNET_ADDR}/24 dev eth0",
                        f"route add 10.64.0.0/10 via {UPLINK_ADDR.split('/')[0]}"])  # for (a): no NAT
    apply(big, netns=hub, state_dir=str(state_dir))  # addresses, routes, forwarding, the big ruleset
    unshaped = remove_shaping(hub)
    if unshaped:
        print(f"  (removed the shaping qdiscs apply installed on {unshaped} hub devices: this part "
              "measures the nftables ruleset, not HTB's caps)", flush=True)

    rulesets: dict[str, Ruleset | None] = {
        "no pnsbox table": None,
        f"ruleset of {len(small.opds)} OPDs": render(small),
        f"ruleset of {n} OPDs": render(big),
    }
    server = subprocess.Popen(in_ns(internet, "iperf3", "-s", "-B", INTERNET_ADDR),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):  # until the server listens
            if sh(in_ns(host, "iperf3", "-c", INTERNET_ADDR, "-t", "1", "-J"), check=False).returncode == 0:
                break
            time.sleep(0.1)
        results: dict[str, list[float]] = {label: [] for label in rulesets}
        for _ in range(repeat):
            for label, ruleset in rulesets.items():
                if ruleset is None:
                    nft.delete(hub)
                else:
                    nft.load(ruleset, hub)
                results[label].append(iperf(host, seconds))
        return results
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- end to end: the pnsbox command, as a user times it ---------------------------------


def rate_changed(text: str, step: int) -> str:
    """OPD 7's ceiling moved: 100mbit -> 50mbit, 51mbit, ... (a different rate every step)."""
    old = f"  opd7: {{name: OPD 7, subnet: {opd_subnet(7)}, link: {{interface: {opd_device(7)}}}, " \
          "bandwidth: {guaranteed: 1mbit, ceiling: "
    start = text.index(old) + len(old)
    return text[:start] + f"{50 + step}mbit" + text[text.index("}", start):]


def policy_added(text: str, step: int) -> str:
    """One more policy between two OPDs (a new one every step), before the group policies."""
    line = f"  - {{name: extra-{step}, from: opd{10 + step}, to: opd{20 + step}, ports: [tcp/{8000 + step}], " \
           "action: accept}\n"
    mark = "  - {name: simpeg-for-all"
    return text.replace(mark, line + mark, 1)


class Pnsboxd:
    """pnsboxd on a hub namespace and a state directory of its own, stopped on exit."""

    def __init__(self, hub: str, state: Path, socket_path: Path):
        self.socket = socket_path
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "pnsboxd"), "--state-dir", str(state),
                                      "--socket", str(socket_path), "--netns", hub, "--metrics-listen", "off"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CLI_ENV)
        for _ in range(200):
            if socket_path.exists():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("pnsboxd did not open its control socket")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _cpu_of(pid: int | None) -> float:
    """CPU seconds a live process and its reaped children used so far (utime, stime, cutime, cstime)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_apply(site: Path, hub: str, state: Path, socket_path: Path, expect: str,
              daemon_pid: int | None = None) -> tuple[float, float]:
    """One `pnsbox apply`, timed from outside like `time` would (Python's start included): its wall
    time, and the CPU seconds it cost (the command with nft, tc and ip, plus pnsboxd's share). On
    a shared machine the CPU time is what an idle one would show as wall time, roughly."""
    argv = [str(Path(sys.executable).parent / "pnsbox"), "apply", "-c", str(site), "--netns", hub,
            "--state-dir", str(state), "--socket", str(socket_path)]
    cpu_before, daemon_before = _children_cpu(), _cpu_of(daemon_pid)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=CLI_ENV)
    seconds = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before + _cpu_of(daemon_pid) - daemon_before
    if proc.returncode != 0 or expect not in proc.stdout:
        raise RuntimeError(f"pnsbox apply: expected {expect!r}, got {proc.returncode}: "
                           f"{(proc.stdout + proc.stderr).strip()[-400:]}")
    return seconds, cpu


def measure_cli(spaces: Namespaces, n: int, tmp: Path, repeat: int) -> dict[str, dict[str, list[tuple]]]:
    """The four apply goals, with and without pnsboxd; each round starts from a fresh hub.
    Every figure is a (wall seconds, CPU seconds) pair."""
    hub = build_hub(spaces, "-cli", n)
    site = tmp / "cli-site"
    site.mkdir()
    base = site_yaml(n)
    times: dict[str, dict[str, list[tuple]]] = {mode: {what: [] for what in CLI_GOALS} for mode in CLI_MODES}
    times["python -c pass"] = {"start": []}  # the floor every command stands on, in the same moments
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(__file__).resolve().parents[1] / "pnsbox")],
                   check=True, env=CLI_ENV)  # as an installed package has it
    try:
        for round_ in range(repeat):
            cpu_before, start = _children_cpu(), time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True, env=CLI_ENV)
            times["python -c pass"]["start"].append((time.perf_counter() - start, _children_cpu() - cpu_before))
            for mode in CLI_MODES:
                state = tmp / "cli-state"
                reset_hub(hub, n, state)
                socket_path = tmp / "cli-control.sock"
                daemon = Pnsboxd(hub, state, socket_path) if mode == "through pnsboxd" else None
                pid = daemon.proc.pid if daemon else None
                try:
                    text = base
                    for what, new_text, expect in (
                            ("first apply", text, "applied as version 1"),
                            ("unchanged re-apply", text, "nothing to change"),
                            ("one OPD's rate change", rate_changed(text, round_), "applied as version 2"),
                            ("one new policy between two OPDs", policy_added(rate_changed(text, round_), round_),
                             "applied as version 3")):
                        (site / "pnsbox.yaml").write_text(new_text)
                        times[mode][what].append(cli_apply(site, hub, state, socket_path, expect, pid))
                finally:
                    if daemon:
                        daemon.stop()
    finally:
        spaces.remove(hub)
        spaces.remove(spaces.prefix + "sink-cli")
    return times


# Where an in-process `pnsbox apply` spends its time: run in a fresh interpreter per apply, the
# named functions wrapped with timers (module attributes, as their callers look them up).
PHASE_RUNNER = r"""
import json, sys, time
started = time.perf_counter()
import pnsbox.cli, pnsbox.store, pnsbox.settled, pnsbox.daemon.statedir
phases = {"import cli, settled": time.perf_counter() - started}
start = time.perf_counter()
import pnsbox.daemon.core, pnsbox.apply.pipeline
from pnsbox import load
from pnsbox.apply import links, nft, pipeline, tc
from pnsbox.daemon import core
from pnsbox.observe import box
phases["import the rest"] = time.perf_counter() - start  # an unchanged apply does without
def timed(owner, name, label):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            phases[label] = phases.get(label, 0.0) + time.perf_counter() - start
    setattr(owner, name, wrapper)
for owner, name, label in [
        (pnsbox.settled, "already_runs", "unchanged? (settled)"), (load, "parse_yaml", "parse YAML"),
        (core, "build", "validate"), (core, "lockout", "anti-lockout"),
        (pipeline, "fingerprints", "structure fingerprint"), (pipeline.Renders, "site", "render"),
        (box, "observe", "observe the kernel"), (nft, "load", "nft -f"), (tc, "batch", "tc -batch"),
        (links, "execute", "ip -batch"), (core.Daemon, "sample_usage", "sample counters"),
        (pnsbox.store.History, "record", "record the version"), (core, "run_checks", "checks"),
        (core.Daemon, "_save_boot_ruleset", "boot ruleset"), (pipeline, "apply", "apply (all of it)")]:
    timed(owner, name, label)
start = time.perf_counter()
code = pnsbox.cli.main(sys.argv[1:])
phases["pnsbox.cli.main"] = time.perf_counter() - start
phases["process"] = time.perf_counter() - started
print(json.dumps(phases))
sys.exit(code)
"""


# The same applies as pnsboxd makes them: one warm Daemon in one process (its memos, its renders),
# CPU time by phase (process_time: robust on a shared machine; nft, tc and ip are children, counted
# apart). What a user waits for through pnsboxd is this plus the CLI's start, imports and sending.
DAEMON_PHASE_RUNNER = r"""
import json, resource, sys, time
from pnsbox import load
from pnsbox.apply import links, nft, pipeline, tc
from pnsbox.apply.owned import OwnedRecord
from pnsbox.daemon import core
from pnsbox.observe import box
import pnsbox.store
hub, state, texts = sys.argv[1], sys.argv[2], json.loads(sys.stdin.read())
phases = {}
def timed(owner, name, label):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            phases[label] = phases.get(label, 0.0) + time.process_time() - start
    setattr(owner, name, wrapper)
for owner, name, label in [
        (core, "already_runs", "unchanged? (settled)"), (load, "parse_yaml", "parse YAML"), (core, "build", "validate"),
        (pipeline, "fingerprints", "structure fingerprint"), (pipeline.Renders, "site", "render"),
        (box, "observe", "observe the kernel"), (core.Daemon, "sample_usage", "sample counters"),
        (OwnedRecord, "read", "owned record read"), (OwnedRecord, "write", "owned record write"),
        (pnsbox.store.History, "record", "record the version"), (core.Daemon, "_save_boot_ruleset", "boot ruleset")]:
    timed(owner, name, label)
def children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
daemon = core.Daemon(state, hub)
found = {}
for what, text in texts:
    phases.clear()
    cpu, kids, wall = time.process_time(), children(), time.perf_counter()
    daemon.apply_files({"pnsbox.yaml": text}, core.Request("bench"), what)
    phases["nft, tc, ip (children)"] = children() - kids
    phases["pnsboxd's own CPU"] = time.process_time() - cpu
    phases["wall"] = time.perf_counter() - wall
    daemon.heap.settle()  # as pnsboxd does once the answer is sent
    found[what] = dict(phases)
print(json.dumps(found))
"""


def measure_daemon_phases(spaces: Namespaces, n: int, tmp: Path) -> dict[str, dict[str, float]]:
    """The four applies in one warm Daemon (as pnsboxd makes them), CPU seconds by phase."""
    hub = build_hub(spaces, "-dphases", n)
    state = tmp / "dphases-state"
    reset_hub(hub, n, state)
    text = site_yaml(n)
    texts = [("first apply", text), ("unchanged re-apply", text), ("one OPD's rate change", rate_changed(text, 0)),
             ("one new policy between two OPDs", policy_added(rate_changed(text, 0), 0))]
    try:
        proc = subprocess.run([sys.executable, "-c", DAEMON_PHASE_RUNNER, hub, str(state)], input=json.dumps(texts),
                              capture_output=True, text=True, env=CLI_ENV)
        if proc.returncode != 0:
            raise RuntimeError(f"daemon phases: {proc.stderr.strip()[-400:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        spaces.remove(hub)
        spaces.remove(spaces.prefix + "sink-dphases")


def print_daemon_phases(phases: dict[str, dict[str, float]], n: int) -> None:
    print(f"inside pnsboxd: the same four applies of {n} OPDs in one warm Daemon (its memos, as pnsboxd keeps "
          "them), CPU seconds by phase (nested phases overlap; `wall` is the whole apply):")
    labels = list(dict.fromkeys(label for found in phases.values() for label in found))
    print(f"  {'':<24}" + "".join(f"{what[:18]:>20}" for what in phases))
    for label in labels:
        print(f"  {label:<24}" + "".join(f"{fmt_time(found[label]) if label in found else '-':>20}"
                                         for found in phases.values()))


# Where the user's time goes through a real pnsboxd: the daemon and the command each run with
# the named functions wrapped, every call appended to a file as (label, thread, start, end) in
# time.time() (one clock for both processes); the tick thread's work is recorded too.
TRACED_PNSBOXD = r"""
import json, sys, threading, time
from pnsbox.apply import pipeline
from pnsbox.daemon import api, core, main
out = open(sys.argv.pop(1), "a", buffering=1)
def timed(owner, name, label):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        start = time.time()
        try:
            return inner(*args, **kwargs)
        finally:
            out.write(json.dumps([label, threading.current_thread().name, start, time.time()]) + "\n")
    setattr(owner, name, wrapper)
for owner, name, label in [
        (api._Handler, "handle_one_request", "request"), (core.Daemon, "apply_files", "apply_files"),
        (core, "already_runs", "settled"), (core, "config_of", "config_of"), (core, "load_files", "parse"),
        (core, "build", "validate"), (core.Daemon, "_timed_apply", "apply"), (pipeline, "_execute", "kernel"),
        (core.Daemon, "_put_live", "put_live"), (core.Daemon, "tick", "tick")]:
    timed(owner, name, label)
sys.exit(main.main())
"""
TRACED_CLI = r"""
import json, sys, time
start = time.time()
out = open(sys.argv.pop(1), "a", buffering=1)
import pnsbox.cli
from pnsbox.control import client
marks = {"start": start, "imported": time.time()}
inner = client._exchange
def exchange(*args):
    marks["send"] = time.time()
    try:
        return inner(*args)
    finally:
        marks["answer"] = time.time()
client._exchange = exchange
code = pnsbox.cli.main(sys.argv[1:])
marks["done"] = time.time()
out.write(json.dumps(["cli", marks]) + "\n")
out.close()
sys.exit(code)
"""


def measure_pnsboxd_phases(spaces: Namespaces, n: int, tmp: Path) -> dict[str, dict[str, float]]:
    """The four applies through a fresh, traced pnsboxd, back to back as in measure_cli: the
    wall time of each phase of the command the user typed, in milliseconds."""
    hub = build_hub(spaces, "-tphases", n)
    site, state, trace = tmp / "tphases-site", tmp / "tphases-state", tmp / "tphases.jsonl"
    socket_path = tmp / "tphases.sock"
    site.mkdir()
    reset_hub(hub, n, state)
    daemon = subprocess.Popen([sys.executable, "-c", TRACED_PNSBOXD, str(trace), "--state-dir", str(state),
                               "--socket", str(socket_path), "--netns", hub, "--metrics-listen", "off"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CLI_ENV)
    found: dict[str, dict[str, float]] = {}
    try:
        for _ in range(200):
            if socket_path.exists():
                break
            time.sleep(0.05)
        text = site_yaml(n)
        for what, new_text in (("first apply", text), ("unchanged re-apply", text),
                               ("one OPD's rate change", rate_changed(text, 0)),
                               ("one new policy between two OPDs", policy_added(rate_changed(text, 0), 0))):
            (site / "pnsbox.yaml").write_text(new_text)
            started = time.time()
            proc = subprocess.run([sys.executable, "-c", TRACED_CLI, str(trace), "apply", "-c", str(site), "--netns",
                                   hub, "--state-dir", str(state), "--socket", str(socket_path)],
                                  capture_output=True, text=True, env=CLI_ENV)
            ended = time.time()
            if proc.returncode != 0:
                raise RuntimeError(f"traced pnsboxd, {what}: {(proc.stdout + proc.stderr).strip()[-400:]}")
            records = [json.loads(line) for line in trace.read_text().splitlines()]
            trace.write_text("")
            found[what] = _user_phases(records, started, ended)
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
        spaces.remove(hub)
        spaces.remove(spaces.prefix + "sink-tphases")
    return found


def _user_phases(records: list, started: float, ended: float) -> dict[str, float]:
    """One command's wall time split at the traced moments (milliseconds; the rows add up to the
    total, except the tick thread's, which ran meanwhile)."""
    cli = next(r[1] for r in records if r[0] == "cli")
    calls = [r for r in records if r[0] != "cli"]
    request = next(r for r in calls if r[0] == "apply_files")
    thread = request[1]

    def span(label):
        return sum(end - start for name, who, start, end in calls if name == label and who == thread)

    def first(label, at):
        return next((r[at] for r in calls if r[0] == label and r[1] == thread), None)

    settled_end = first("settled", 3)
    locked_at = first("config_of", 2)
    put_live = span("put_live")
    applied = span("apply")
    ms = {
        "CLI: Python, imports": cli["imported"] - started,
        "CLI: arguments, read the site": cli["send"] - cli["imported"],
        "to pnsboxd, JSON decode": request[2] - cli["send"],
        "pnsboxd: unchanged? (settled)": span("settled"),
        "pnsboxd: waits for its lock": (locked_at - settled_end) if locked_at and settled_end else 0.0,
        "pnsboxd: parse YAML": span("parse"),
        "pnsboxd: validate": span("validate"),
        "pnsboxd: apply, kernel (nft/tc/ip)": span("kernel"),
        "pnsboxd: apply, the rest": applied - span("kernel"),
        "pnsboxd: version, audit, boot": put_live - applied if put_live else 0.0,
        "back to the CLI": cli["answer"] - request[3],
        "CLI: print, exit": ended - cli["answer"],
    }
    ms["pnsboxd: other"] = (request[3] - request[2]) - sum(
        ms[k] for k in ms if k.startswith("pnsboxd:"))
    ms["total (as the user waits)"] = ended - started
    ms["tick thread running meanwhile"] = sum(
        max(0.0, min(end, cli["answer"]) - max(start, cli["send"]))
        for name, who, start, end in calls if name == "tick")
    return ms


def print_pnsboxd_phases(phases: dict[str, dict[str, float]], n: int) -> None:
    print(f"through a real pnsboxd (fresh, traced), where the user's wall time of `pnsbox apply` of {n} OPDs goes "
          "(the rows above the total add up to it; the last row is how long the tick thread (drift check, samples, or waiting for the lock) ran meanwhile):")
    labels = list(dict.fromkeys(label for found in phases.values() for label in found))
    print(f"  {'':<36}" + "".join(f"{what[:18]:>20}" for what in phases))
    for label in labels:
        print(f"  {label:<36}" + "".join(f"{fmt_time(found.get(label, 0.0)):>20}" for found in phases.values()))


def measure_phases(spaces: Namespaces, n: int, tmp: Path) -> dict[str, dict[str, float]]:
    """One round of the four applies without pnsboxd, each in a fresh process, by phase."""
    hub = build_hub(spaces, "-phases", n)
    site, state = tmp / "phases-site", tmp / "phases-state"
    site.mkdir()
    reset_hub(hub, n, state)
    argv = ["apply", "-c", str(site), "--netns", hub, "--state-dir", str(state), "--socket", "/nonexistent"]
    found = {}
    try:
        text = site_yaml(n)
        for what, new_text in (("first apply", text), ("unchanged re-apply", text),
                               ("one OPD's rate change", rate_changed(text, 0)),
                               ("one new policy between two OPDs", policy_added(rate_changed(text, 0), 0))):
            (site / "pnsbox.yaml").write_text(new_text)
            proc = subprocess.run([sys.executable, "-c", PHASE_RUNNER, *argv], capture_output=True, text=True,
                                  env=CLI_ENV)
            if proc.returncode != 0:
                raise RuntimeError(f"phases, {what}: {proc.stderr.strip()[-400:]}")
            found[what] = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        spaces.remove(hub)
        spaces.remove(spaces.prefix + "sink-phases")
    return found


def print_phases(phases: dict[str, dict[str, float]], n: int) -> None:
    print(f"where an in-process `pnsbox apply` of {n} OPDs spends its time (one round, each apply a fresh "
          "process; nested phases are inside `apply (all of it)`, which is inside `pnsbox.cli.main`; "
          "`process` is from the first import to the end, without the interpreter's own start):")
    labels = list(dict.fromkeys(label for found in phases.values() for label in found))
    print(f"  {'':<24}" + "".join(f"{what[:18]:>20}" for what in phases))
    for label in labels:
        print(f"  {label:<24}" + "".join(f"{fmt_time(found[label]) if label in found else '-':>20}"
                                         for found in phases.values()))


def print_cli(times: dict[str, dict[str, list[tuple]]], n: int, repeat: int) -> None:
    print(f"end to end, `pnsbox apply -c DIR --netns NS` of {n} OPDs timed from outside (Python's start "
          f"included), median of {repeat} rounds from a fresh hub: wall time (min-max) [CPU seconds: the "
          "command, its nft/tc/ip children and pnsboxd's share]:")
    print(f"  {'':<34}" + "".join(f"{mode:>36}" for mode in CLI_MODES) + f"{'goal':>10}")

    def cell(values: list[tuple]) -> str:
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        return f"{fmt_time(median(walls))} ({fmt_time(min(walls))}-{fmt_time(max(walls))}) [{fmt_time(median(cpus))}]"

    for what, goal in CLI_GOALS.items():
        print(f"  {what:<34}" + "".join(f"{cell(times[mode][what]):>36}" for mode in CLI_MODES)
              + f"{'< ' + fmt_time(goal):>10}")
    print(f"  (the same Python with nothing to do, `python -c pass`: {cell(times['python -c pass']['start'])}, "
          "in the same rounds)")


# --- report -------------------------------------------------------------------


def print_table(results: list[SizeResult]) -> None:
    header = ("OPDs", "policies", "nft lines", "validate", "render", "full apply", "unchanged")
    rows = []
    for r in results:
        cells = [str(r.n), str(r.policies), str(r.nft_lines), fmt_time(median(r.validate)),
                 fmt_time(median(r.render))]
        for values in (r.apply_full, r.apply_unchanged):
            cells.append(fmt_time(median(values)) if values else "-")
        rows.append(cells)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def goal_line(what: str, value: str, met: bool | None) -> str:
    verdict = "not measured" if met is None else ("met" if met else "MISSED")
    return f"  {what:<52} {value:>12}   {verdict}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes 10 and 100 only, 1 s iperf3 runs")
    parser.add_argument("--no-kernel", action="store_true", help="validate and render only (no root)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="repetitions of each timing (default 3, quick 2)")
    parser.add_argument("--iperf-repeat", type=int, default=None,
                        help="interleaved iperf3 rounds (default 7, quick 2)")
    parser.add_argument("--cli-only", action="store_true",
                        help="only the end-to-end `pnsbox apply` figures (largest size; no iperf3)")
    parser.add_argument("--phases", action="store_true",
                        help="also time the phases of an in-process `pnsbox apply` (largest size), and of the "
                             "same applies inside one warm pnsboxd Daemon")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    repeat = args.repeat or (2 if args.quick else 3)
    iperf_repeat = args.iperf_repeat or (2 if args.quick else 7)
    iperf_seconds = 1 if args.quick else 3
    kernel = not args.no_kernel

    if kernel:
        if os.geteuid() != 0:
            print("bench/scale.py needs root: it builds network namespaces and loads nftables rulesets "
                  "in them.\nRun it as root (sudo .venv/bin/python bench/scale.py), "
                  "or with --no-kernel for validate and render only.", file=sys.stderr)
            return 2
        missing = [f"{tool} (Debian package {pkg})" for tool, pkg in TOOLS.items() if not shutil.which(tool)]
        if missing:
            print("bench/scale.py needs " + ", ".join(missing), file=sys.stderr)
            return 2

    print(f"bench/scale.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {machine()}")
    print(f"pnsbox: {code_version()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"sizes {', '.join(map(str, sizes))} OPDs; each time is the median of {repeat} runs in this "
          "process, after a warm-up (imports, including pyroute2's ~0.35 s, not counted)")
    print(flush=True)

    unwind_on_sigterm()
    spaces = Namespaces()
    tmp = Path(tempfile.mkdtemp(prefix="pnsbench-"))
    results: list[SizeResult] = []
    throughput: dict[str, list[float]] = {}
    cli_times: dict[str, dict[str, list[tuple]]] = {}
    phases: dict[str, dict[str, float]] = {}
    daemon_phases: dict[str, dict[str, float]] = {}
    pnsboxd_phases: dict[str, dict[str, float]] = {}
    configs: dict[int, Config] = {}
    try:
        # warm-up: first calls of everything (pydantic, pyroute2 sockets, the nft binary)
        warm = validate(site_yaml(sizes[0]))
        render(warm)
        if kernel:
            from pnsbox.apply.pipeline import apply

            hub = build_hub(spaces, "-warm", sizes[0])
            apply(warm, netns=hub, state_dir=str(tmp / "warm"))
            apply(warm, netns=hub, state_dir=str(tmp / "warm"))
            spaces.remove(hub)
            spaces.remove(spaces.prefix + "sink-warm")

        for n in [] if args.cli_only else sizes:
            result = SizeResult(n)
            results.append(result)
            text = site_yaml(n)
            configs[n] = measure_pure(result, text, repeat)
            if kernel:
                hub = build_hub(spaces, f"-{n}", n)
                measure_apply(result, configs[n], hub, tmp / f"state-{n}", repeat)
                spaces.remove(hub)
                spaces.remove(spaces.prefix + f"sink-{n}")
            print(f"  {n} OPDs done", flush=True)

        if kernel:
            print(f"  end to end: {repeat} rounds of `pnsbox apply` at {sizes[-1]} OPDs, without and with "
                  "pnsboxd ...", flush=True)
            cli_times = measure_cli(spaces, sizes[-1], tmp, repeat)
        if kernel and args.phases:
            phases = measure_phases(spaces, sizes[-1], tmp)
            daemon_phases = measure_daemon_phases(spaces, sizes[-1], tmp)
            pnsboxd_phases = measure_pnsboxd_phases(spaces, sizes[-1], tmp)
        if kernel and not args.cli_only:
            print(f"  forwarding: {iperf_repeat} interleaved rounds of {iperf_seconds} s iperf3 runs ...",
                  flush=True)
            throughput = measure_throughput(spaces, configs[sizes[-1]], configs[sizes[0]],
                                            tmp / "state-fwd", iperf_repeat, iperf_seconds)
    finally:
        spaces.close()
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    if results:
        print_table(results)
    if results and results[-1].full_steps:
        steps = results[-1].full_steps
        print(f"a full apply of {results[-1].n} OPDs runs {sum(steps.values())} steps "
              f"({', '.join(f'{kind} {count}' for kind, count in steps.items())}); "
              "apply renders the config itself, so its times include a render")

    ratio_small = ratio_none = None
    if throughput:
        labels = list(throughput)
        print()
        print(f"forwarding, OPD 0 host -> hub -> internet, iperf3 TCP, {iperf_seconds} s runs, "
              f"{iperf_repeat} interleaved rounds (median, min-max):")
        for label in labels:
            values = throughput[label]
            print(f"  {label:<24} {fmt_rate(median(values)):>14}   "
                  f"({fmt_rate(min(values))} - {fmt_rate(max(values))})")
        none, small, big = (median(throughput[label]) for label in labels)
        ratio_small, ratio_none = big / small, big / none
        print(f"  ratio {sizes[-1]} OPDs / {sizes[0]} OPDs: {ratio_small:.3f}")
        print(f"  ratio {sizes[-1]} OPDs / no pnsbox table: {ratio_none:.3f}")

    if cli_times:
        print()
        print_cli(cli_times, sizes[-1], repeat)
    if phases:
        print()
        print_phases(phases, sizes[-1])
    if daemon_phases:
        print()
        print_daemon_phases(daemon_phases, sizes[-1])
    if pnsboxd_phases:
        print()
        print_pnsboxd_phases(pnsboxd_phases, sizes[-1])

    print()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("goals:")
    goal = next((r for r in results if r.n == GOAL_SIZE), None)
    full = median(goal.apply_full) if goal else None
    print(goal_line(f"full apply of {GOAL_SIZE} OPDs < {fmt_time(GOAL_APPLY_S)}",
                    fmt_time(full) if full is not None else "-",
                    None if full is None else full < GOAL_APPLY_S))
    unchanged = median(goal.apply_unchanged) if goal else None
    print(goal_line(f"re-apply of unchanged {GOAL_SIZE} OPDs < {fmt_time(GOAL_REAPPLY_S)}",
                    fmt_time(unchanged) if unchanged is not None else "-",
                    None if unchanged is None else unchanged < GOAL_REAPPLY_S))
    for what, goal in CLI_GOALS.items():
        for mode in CLI_MODES:
            found = cli_times.get(mode, {}).get(what) if sizes[-1] == GOAL_SIZE else None
            wall = median([w for w, _ in found]) if found else None
            print(goal_line(f"`pnsbox apply`, {what}, {mode} < {fmt_time(goal)}",
                            fmt_time(wall) if found else "-", None if not found else wall < goal))
    measured = ratio_small is not None and sizes[-1] == GOAL_SIZE
    print(goal_line(f"throughput {GOAL_SIZE} vs 10 OPDs >= {GOAL_RATIO}",
                    f"{ratio_small:.3f}" if measured else "-",
                    (ratio_small >= GOAL_RATIO) if measured else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bandwidth plans proven with real TCP flows (iperf3) through the hub of a lab.

The site is small and slow on purpose (a 100mbit pipe), so two cores are never the bottleneck:
what limits a flow is HTB. Download is measured with `iperf3 -R` from the OPD host (the server
in the internet node sends: the internet cannot open connections to OPD hosts behind the
masquerade), upload without -R.

Two rates are compared with a plan:
- goodput: iperf3's TCP payload rate (end.sum_received.bits_per_second);
- wire rate: what HTB itself counts, the bytes of the OPD's class (L2 frames: Ethernet + IP +
  TCP headers + payload) over a window of a running flow, read with pnsbox.observe.tc.observe.
HTB limits the wire rate. A full segment carries 1448 bytes of payload in a 1514-byte frame
(14 Ethernet + 20 IP + 20 TCP + 12 TCP timestamp option), so goodput sits near 1448/1514 =
95.6% of the wire rate: the ceiling is reached when goodput is ~0.956 of it.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from labkit import new_lab_name

from pnsbox.apply.pipeline import apply
from pnsbox.lab import topology
from pnsbox.load import load_text
from pnsbox.observe import tc
from pnsbox.render.tc import IFB, UNMATCHED, classid
from pnsbox.validate import build

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)
if shutil.which("iperf3") is None:
    pytest.skip("shaping tests need iperf3 (Debian package iperf3)", allow_module_level=True)

MBIT = 10**6
PIPE = 100 * MBIT
PLANS = {"a": (30 * MBIT, 60 * MBIT), "b": (20 * MBIT, 80 * MBIT)}  # guaranteed, ceiling
SERVER = "198.51.100.1"  # the internet node, the uplink's gateway
PORTS = {"a": 5301, "b": 5302}  # one iperf3 server per concurrent flow (the lab's responder has 5201)

SITE = """\
site:
  name: shaping
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 100mbit}
opds:
  a:
    name: A
    subnet: 10.21.0.0/24
    link: {interface: opd-a}
    bandwidth: {guaranteed: 30mbit, ceiling: A_CEILING%(during)s}
  b:
    name: B
    subnet: 10.22.0.0/24
    link: {interface: opd-b}
    bandwidth: {guaranteed: 20mbit, ceiling: 80mbit}
policies:
  - {name: internet, from: opds, to: internet, action: accept}
%(schedules)s"""


def site(a_ceiling: str = "60mbit", busy_plan: bool = False):
    """The site; `busy_plan` gives `a` a bigger plan while the schedule `busy` is open."""
    during = ", during: {busy: {guaranteed: 40mbit, ceiling: 90mbit}}" if busy_plan else ""
    schedules = 'schedules:\n  busy: {from: "08:00", to: "12:00"}\n' if busy_plan else ""
    text = SITE.replace("A_CEILING", a_ceiling) % {"during": during, "schedules": schedules}
    return build(load_text(text))


# The site's timezone is Asia/Jakarta (UTC+7): `busy` is 01:00-05:00 UTC.
INSIDE_BUSY = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 10:00 in Jakarta
OUTSIDE_BUSY = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 20:00 in Jakarta


@dataclass
class Lab:
    name: str
    hub: str
    state: str
    leaf: dict[str, int]  # OPD -> its HTB class minor (a leaf: the plans have no traffic classes)


@pytest.fixture(scope="module")
def lab():
    name = new_lab_name("s")
    state = tempfile.mkdtemp(prefix="pnsbox-state-")
    servers: list[subprocess.Popen] = []
    try:
        topology.lab_up(site(), name)
        hub = topology.netns_name(name, "hub")
        result = apply(site(), hub, state)
        leaf = {opd: result.shaping.leaves[(opd, None)] for opd in PLANS}
        for port in PORTS.values():
            servers.append(subprocess.Popen(topology.exec_argv(name, "internet", ["iperf3", "-s", "-p", str(port)]),
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait_listening(name, list(PORTS.values()))
        yield Lab(name, hub, state, leaf)
    finally:
        for server in servers:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        topology.lab_down(name)
        shutil.rmtree(state, ignore_errors=True)


def _wait_listening(lab_name: str, ports: list[int]) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        out = subprocess.run(topology.exec_argv(lab_name, "internet", ["ss", "-Htln"]),
                             capture_output=True, text=True).stdout
        if all(f":{port} " in out for port in ports):
            return
        time.sleep(0.05)
    raise RuntimeError(f"iperf3 servers on {ports} did not start listening")


# --- flows and counters ------------------------------------------------------------


def start_flow(lab: Lab, node: str, port: int, seconds: float, download: bool,
               interval: float = 1.0) -> subprocess.Popen:
    argv = ["iperf3", "-c", SERVER, "-p", str(port), "-t", str(seconds), "-i", str(interval), "-J",
            "--connect-timeout", "3000"]
    if download:
        argv.append("-R")
    return subprocess.Popen(topology.exec_argv(lab.name, node, argv), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def report(proc: subprocess.Popen) -> dict:
    """The flow's iperf3 JSON report; fails the test if iperf3 reported an error."""
    out, err = proc.communicate(timeout=30)
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        pytest.fail(f"iperf3 gave no JSON (exit {proc.returncode}): {err.strip() or out[:300]}")
    assert "error" not in data, f"iperf3: {data['error']}"
    assert proc.returncode == 0, err
    return data


def goodput(data: dict) -> float:
    return data["end"]["sum_received"]["bits_per_second"]


def between(data: dict, start: float, end: float = float("inf")) -> list[float]:
    """Rates of the flow's report intervals that lie within [start, end] seconds of its clock."""
    return [i["sum"]["bits_per_second"] for i in data["intervals"]
            if i["sum"]["start"] >= start and i["sum"]["end"] <= end]


def classes(lab: Lab, device: str) -> dict[int, tc.SeenClass]:
    trees, _ = tc.observe(lab.hub)
    return trees[device].classes


def sample(lab: Lab, device: str) -> tuple[float, dict[int, tc.SeenClass]]:
    """(when, the classes) with `when` the middle of the read."""
    before = time.monotonic()
    seen = classes(lab, device)
    return (before + time.monotonic()) / 2, seen


def run_flows(lab: Lab, nodes: list[str], download: bool, seconds: float = 3.5,
              warmup: float = 1.0, window: float = 1.5):
    """Flows from `nodes` at once; returns their reports, and per node its class's wire rate and
    `borrowed` count over `window` seconds of steady state (after `warmup`)."""
    device = IFB["download" if download else "upload"]
    procs = {node: start_flow(lab, node, PORTS[node], seconds, download) for node in nodes}
    try:
        time.sleep(warmup)
        t1, first = sample(lab, device)
        time.sleep(window)
        t2, second = sample(lab, device)
    finally:
        reports = {node: report(proc) for node, proc in procs.items()}
    wire = {node: (second[lab.leaf[node]].bytes - first[lab.leaf[node]].bytes) * 8 / (t2 - t1) for node in nodes}
    borrowed = {node: second[lab.leaf[node]].borrowed - first[lab.leaf[node]].borrowed for node in nodes}
    return reports, wire, borrowed


def rates(lab: Lab, opd: str) -> dict[str, tuple[int, int]]:
    """Direction -> (rate, ceil) of the OPD's class, as the kernel has it."""
    trees, _ = tc.observe(lab.hub)
    return {direction: (trees[device].classes[lab.leaf[opd]].rate, trees[device].classes[lab.leaf[opd]].ceil)
            for direction, device in IFB.items()}


def only_tc_steps_of(result, lab: Lab, opd: str) -> None:
    """The apply changed the OPD's classes in place, in both directions, and nothing else."""
    assert [s.kind for s in result.steps] == ["tc", "tc"], [s.text for s in result.steps]
    mine = classid(lab.leaf[opd])
    others = [classid(minor) for name, minor in lab.leaf.items() if name != opd]
    for step in result.steps:
        assert f"class {mine} {opd}:" in step.text, step.text
        assert all(line.startswith("class change ") and f"classid {mine} " in line for line in step.args), step.args
        assert not any(f"classid {other} " in line for line in step.args for other in others), step.args


# --- the tests -------------------------------------------------------------------


@pytest.mark.parametrize("download", [True, False], ids=["download", "upload"])
def test_one_opd_alone_reaches_its_ceiling(lab, download):
    _, ceiling = PLANS["a"]  # 60mbit; b is idle
    reports, wire, _ = run_flows(lab, ["a"], download)
    got = goodput(reports["a"])
    # Goodput: 90-100% of the ceiling (it lands near 1448/1514 = 95.6%, the payload share of a frame).
    assert 0.90 * ceiling <= got <= ceiling, f"goodput {got / MBIT:.1f} Mbit/s vs ceiling {ceiling / MBIT:.0f}"
    # Wire rate, as HTB counts it: the ceiling itself, give or take the sampling.
    assert 0.95 * ceiling <= wire["a"] <= 1.03 * ceiling, f"wire {wire['a'] / MBIT:.1f} Mbit/s"


@pytest.mark.parametrize("download", [True, False], ids=["download", "upload"])
def test_two_busy_opds_get_their_guarantees_and_share_the_rest(lab, download):
    reports, wire, _ = run_flows(lab, ["a", "b"], download)
    for opd, (guaranteed, ceiling) in PLANS.items():
        got = goodput(reports[opd])
        assert got >= 0.90 * guaranteed, f"{opd}: goodput {got / MBIT:.1f} Mbit/s, guarantee {guaranteed / MBIT:.0f}"
        assert wire[opd] <= 1.03 * ceiling, f"{opd}: wire {wire[opd] / MBIT:.1f} Mbit/s, ceiling {ceiling / MBIT:.0f}"
    total_wire = sum(wire.values())
    # Together they fill the pipe and never exceed it: the spare 50mbit above the guarantees
    # (30 + 20) went to the two OPDs, up to their ceilings.
    assert 0.93 * PIPE <= total_wire <= 1.03 * PIPE, f"total wire {total_wire / MBIT:.1f} Mbit/s"
    assert sum(map(goodput, reports.values())) <= PIPE


def test_idle_opds_guarantee_is_borrowed(lab):
    guaranteed, ceiling = PLANS["b"]  # 20mbit guaranteed, 80mbit ceiling; a is idle
    reports, wire, borrowed = run_flows(lab, ["b"], download=True)
    got = goodput(reports["b"])
    assert got >= 2 * guaranteed, f"goodput {got / MBIT:.1f} Mbit/s: b did not borrow beyond its guarantee"
    assert got >= 0.90 * ceiling and wire["b"] <= 1.03 * ceiling, (got, wire)
    assert borrowed["b"] > 0, "HTB's `borrowed` counter of b's class did not move"


def test_rate_change_takes_effect_at_once_and_spares_the_other_opd(lab):
    seconds, change_at, interval = 8, 3.0, 0.5
    new_ceiling = 30 * MBIT
    t0 = time.monotonic()
    flow_a = start_flow(lab, "a", PORTS["a"], seconds, download=True, interval=interval)
    flow_b = start_flow(lab, "b", PORTS["b"], seconds, download=True, interval=interval)
    try:
        time.sleep(change_at)
        b_before = classes(lab, IFB["download"])[lab.leaf["b"]].bytes
        result = apply(site(a_ceiling="30mbit"), lab.hub, lab.state)
        returned = time.monotonic() - t0  # on the flows' clock (they started a little after t0)
        b_after = classes(lab, IFB["download"])[lab.leaf["b"]].bytes
    finally:
        a, b = report(flow_a), report(flow_b)
    b_end = classes(lab, IFB["download"])[lab.leaf["b"]].bytes
    try:
        only_tc_steps_of(result, lab, "a")  # no ruleset replace, b's classes untouched
        assert rates(lab, "a") == {"download": (30 * MBIT, new_ceiling), "upload": (30 * MBIT, new_ceiling)}

        before = between(a, 1.0, returned - 0.2)  # after slow start, before the apply
        after = between(a, returned + 1.0)  # "within a second" of the apply
        assert before and min(before) > 1.3 * new_ceiling, f"a was not above the new ceiling before: {before}"
        assert len(after) >= 5, after  # the flow kept going after the change
        assert max(after) <= 1.10 * new_ceiling, f"apply returned at {returned:.2f} s; a's rate after it: {after}"
        assert a["end"]["sum_received"]["seconds"] >= seconds - 0.5

        b_rates = [i["sum"]["bits_per_second"] for i in b["intervals"]]
        assert min(b_rates) >= 0.5 * PLANS["b"][0], f"b stalled around the apply: {b_rates}"
        assert b["end"]["sum_received"]["seconds"] >= seconds - 0.5
        # b's class was not recreated: its byte counter kept growing across the apply.
        assert b_before < b_after < b_end, (b_before, b_after, b_end)
        # b took what a gave up: from half the pipe (~50mbit) toward the pipe minus a's new ceiling
        # (70mbit, +40%); a busy 2-core VM has shown +29%, so the bar is +20% (no gain would be +0%).
        b_early, b_late = between(b, 1.0, returned - 0.2), between(b, returned + 0.5)
        assert sum(b_late) / len(b_late) > 1.2 * sum(b_early) / len(b_early), (b_early, b_late)
    finally:
        back = apply(site(), lab.hub, lab.state)
    only_tc_steps_of(back, lab, "a")


def test_time_of_day_plan_switches_the_class_rates(lab):
    base = rates(lab, "a")
    assert base == {"download": PLANS["a"], "upload": PLANS["a"]}
    try:
        apply(site(busy_plan=True), lab.hub, lab.state, now=INSIDE_BUSY)
        assert rates(lab, "a") == {"download": (40 * MBIT, 90 * MBIT), "upload": (40 * MBIT, 90 * MBIT)}
        assert rates(lab, "b") == {"download": PLANS["b"], "upload": PLANS["b"]}
        back = apply(site(busy_plan=True), lab.hub, lab.state, now=OUTSIDE_BUSY)
        only_tc_steps_of(back, lab, "a")
        assert rates(lab, "a") == base
        again = apply(site(busy_plan=True), lab.hub, lab.state, now=OUTSIDE_BUSY)
        assert again.steps == []
    finally:
        apply(site(), lab.hub, lab.state)
    assert rates(lab, "a") == base


def test_traffic_of_no_opd_goes_to_the_default_class(lab):
    """The hub's own traffic to the internet matches no OPD: class 1:fffe carries it, capped by the pipe."""
    upload = IFB["upload"]
    before = classes(lab, upload)
    proc = subprocess.Popen(topology.exec_argv(lab.name, "hub", [
        "iperf3", "-c", SERVER, "-p", str(PORTS["a"]), "-t", "2", "-J", "--connect-timeout", "3000"]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    data = report(proc)
    after = classes(lab, upload)
    # What the server received has certainly left the class; what the client wrote may still sit
    # in a socket buffer when iperf3 reports.
    received = data["end"]["sum_received"]["bytes"]
    unmatched = after[UNMATCHED].bytes - before[UNMATCHED].bytes
    assert unmatched >= received, f"class {classid(UNMATCHED)} saw {unmatched} bytes of {received} received"
    for opd, minor in lab.leaf.items():
        assert after[minor].bytes - before[minor].bytes < 10_000, f"{opd}'s class carried the hub's traffic"
    assert goodput(data) <= PIPE, f"unshaped: {goodput(data) / MBIT:.0f} Mbit/s through a 100mbit pipe"
    assert goodput(data) >= 0.85 * PIPE  # its ceiling is the pipe

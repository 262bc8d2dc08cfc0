"""Shaping benchmark: how fast plans go into the kernel, and how well HTB keeps them.

    sudo .venv/bin/python bench/shaping.py            # 10, 100, 1,000 OPDs; 10 s fairness flows
    sudo .venv/bin/python bench/shaping.py --quick    # 10 and 100 OPDs; short flows (smoke run)

1. Full apply of a site of 10, 100 and 1,000 OPDs, each with a bandwidth plan (guaranteed
   1mbit, ceiling 100mbit, 1gbit pipe) and one policy for all (`opds -> internet accept`), into
   a hub namespace that has the interfaces (veth pairs made with `ip -batch`) and nothing else.
   The time of the tc part (every `tc -batch` apply runs: IFB trees, leaves, redirects) is
   measured inside the real apply by wrapping pnsbox.apply.tc.batch, next to the whole apply.
2. One OPD's rate change (its ceiling 100mbit <-> 50mbit) at 10, 100 and 1,000 OPDs: the time of
   an `apply()` whose only steps are that OPD's `tc class change` lines (checked), with where
   the time goes (each phase of apply is wrapped and timed the same way). Goal: < 50 ms at any N.
3. Jain's fairness index over 10 OPDs with equal plans (guaranteed 10mbit, ceiling 100mbit, a
   100mbit pipe) saturating at once: a lab (pnsbox.lab) with 10 OPD hosts, 10 concurrent iperf3
   TCP flows to 10 servers in the internet node, per direction. Goal: >= 0.95. Then the same
   with guarantees of 2mbit (set by apply, in place), where 80mbit of the pipe is shared only by
   HTB's borrowing.
4. Achieved-to-configured ratios for single flows: OPD o0 alone at ceilings 10, 25, 50 and
   100mbit (set by apply, in place), per direction: goodput (iperf3's payload rate) and wire
   rate (the class's byte counter, as HTB counts: L2 frames) over the configured ceiling. A
   full segment carries 1448 payload bytes in a 1514-byte frame, so goodput tops out at 0.956.

Times are time.perf_counter() in this process, after a warm-up; each is the median of --repeat
runs. Download is `iperf3 -R` from the OPD host (the lab masquerades; the internet cannot open
connections to OPD hosts), upload without -R. Wire rates come from the class byte counters
(pnsbox.observe.tc.observe) read twice during the steady part of the flows.

Everything runs in namespaces this process makes (`pnsbench-<pid>-*` for the apply timings,
the lab `pnsbox-bsh<pid>-*` for the flows), removed on exit; the host's own namespace is never
changed. A benchmark, not a test: it exits 0 whether or not the goals are met (2 when it cannot
run at all).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from benchkit import MAIN_PID, Namespaces, code_version, ip_batch, machine, sh, unwind_on_sigterm

from pnsbox.load import load_text
from pnsbox.model import Config
from pnsbox.validate import build

SIZES = (10, 100, 1000)
QUICK_SIZES = (10, 100)
GOAL_CHANGE_S = 0.050  # one OPD's rate change, any N
GOAL_JAIN = 0.95
MBIT = 10**6
UPLINK_DEV = "wan0"
INTERNET_ADDR = "198.51.100.1"
FAIR_OPDS = 10
FAIR_PIPE = 100 * MBIT
# Equal plans: 10mbit each fills the pipe with guarantees; 2mbit each leaves 80mbit to borrow.
FAIR_GUARANTEES = (10, 2)
SINGLE_CEILINGS = (10, 25, 50, 100)  # mbit, OPD o0 alone
QUICK_SINGLE_CEILINGS = (25, 100)
BASE_PORT = 5301  # the lab's responders own 5201
GOODPUT_PER_WIRE = 1448 / 1514
TOOLS = {"ip": "iproute2", "tc": "iproute2", "nft": "nftables", "iperf3": "iperf3", "ss": "iproute2"}


# --- sites ------------------------------------------------------------------------


def scale_site(n: int, changed: int | None = None) -> str:
    """n OPDs on links o0..; OPD `changed` (if any) has a 50mbit ceiling instead of 100mbit."""
    lines = ["site:", f"  name: shaping-{n}",
             f"  uplink: {{interface: {UPLINK_DEV}, address: 198.51.100.2/24, gateway: {INTERNET_ADDR}, "
             "bandwidth: 1gbit}", "opds:"]
    for i in range(n):
        ceiling = "50mbit" if i == changed else "100mbit"
        lines.append(f"  opd{i}: {{name: OPD {i}, subnet: 10.{64 + i // 250}.{i % 250}.0/24, "
                     f"link: {{interface: o{i}}}, bandwidth: {{guaranteed: 1mbit, ceiling: {ceiling}}}}}")
    lines += ["policies:", "  - {name: internet, from: opds, to: internet, action: accept}"]
    return "\n".join(lines) + "\n"


def fair_site(o0_ceiling_mbit: int = 100, guaranteed_mbit: int = 10) -> Config:
    """10 OPDs o0..o9 with equal plans sharing a 100mbit pipe (o0's ceiling may differ)."""
    lines = ["site:", "  name: fairness",
             f"  uplink: {{interface: {UPLINK_DEV}, address: 198.51.100.2/24, gateway: {INTERNET_ADDR}, "
             f"bandwidth: {FAIR_PIPE // MBIT}mbit}}", "opds:"]
    for i in range(FAIR_OPDS):
        ceiling = o0_ceiling_mbit if i == 0 else 100
        lines.append(f"  o{i}: {{name: OPD {i}, subnet: 10.{64 + i}.0.0/24, link: {{interface: opd{i}}}, "
                     f"bandwidth: {{guaranteed: {guaranteed_mbit}mbit, ceiling: {ceiling}mbit}}}}")
    lines += ["policies:", "  - {name: internet, from: opds, to: internet, action: accept}"]
    return build(load_text("\n".join(lines) + "\n"))


# --- namespaces (never the host's) ---------------------------------------------------


def build_hub(spaces: Namespaces, n: int) -> tuple[str, str]:
    """A hub with links o0..o{n-1} and wan0 (veth pairs, peers in a sink namespace)."""
    hub, sink = spaces.add(f"hub{n}"), spaces.add(f"sink{n}")
    devices = [f"o{i}" for i in range(n)] + [UPLINK_DEV]
    ip_batch(hub, [f"link add {d} type veth peer name p-{d} netns {sink}" for d in devices])
    return hub, sink


def reset_hub(hub: str, n: int, state_dir: Path) -> None:
    """Back to interfaces only: no IFBs, redirects, table, addresses, routes or forwarding."""
    sh(["ip", "netns", "exec", hub, "nft", "delete", "table", "inet", "pnsbox"], check=False)
    for ifb in ("pnsbox-dl", "pnsbox-ul"):
        sh(["ip", "-n", hub, "link", "del", ifb], check=False)
    devices = [f"o{i}" for i in range(n)] + [UPLINK_DEV]
    sh(["tc", "-n", hub, "-force", "-batch", "-"], check=False,
       stdin="".join(f"qdisc del dev {d} clsact\n" for d in devices))
    ip_batch(hub, [f"link set dev {d} down" for d in devices])
    sh(["ip", "-n", hub, "-4", "address", "flush", "scope", "global"])
    sh(["ip", "netns", "exec", hub, "sysctl", "-qw", "net.ipv4.ip_forward=0"])
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)


# --- where apply spends its time ----------------------------------------------------


def _phases():
    from pnsbox.apply import links, nft, pipeline, tc
    from pnsbox.apply.owned import OwnedRecord
    from pnsbox.observe import links as seen_links
    from pnsbox.observe import table
    from pnsbox.observe import tc as seen_tc

    return [
        ("facts probe", pipeline, "probe"),
        ("render", pipeline, "site"),
        ("render tc (rates only)", pipeline, "render_shaping_for"),
        ("plan", pipeline, "compute"),
        ("observe links", seen_links, "read"),
        ("observe tc", seen_tc, "observe"),
        ("nft digest", table, "running_digest"),
        ("nft -c", nft, "check"),
        ("nft -f", nft, "load"),
        ("tc batch", tc, "batch"),
        ("netlink steps", links, "execute"),
        ("state record", OwnedRecord, "read"),
        ("state record", OwnedRecord, "write"),
    ]


@contextmanager
def profiled():
    """Wrap apply's phases; yields a dict phase -> seconds, and `tc lines` -> lines sent."""
    spent: dict[str, float] = defaultdict(float)
    saved = []
    for label, owner, attr in _phases():
        original = getattr(owner, attr)
        saved.append((owner, attr, original))

        def wrapper(*args, _original=original, _label=label, **kwargs):
            if _label == "tc batch" and args:
                spent["tc lines"] += len(args[0])
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_label] += time.perf_counter() - start

        setattr(owner, attr, wrapper)
    try:
        yield spent
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)


def timed_apply(config: Config, hub: str, state_dir: Path, now=None):
    from pnsbox.apply.pipeline import apply

    with profiled() as spent:
        start = time.perf_counter()
        result = apply(config, hub, str(state_dir), now=now)
        spent["total"] = time.perf_counter() - start
    return result, dict(spent)


def median_phases(runs: list[dict]) -> dict[str, float]:
    keys = {k for run in runs for k in run}
    return {k: statistics.median(run.get(k, 0.0) for run in runs) for k in keys}


def measure_apply(spaces: Namespaces, n: int, repeat: int, tmp: Path) -> dict:
    hub, sink = build_hub(spaces, n)
    state = tmp / f"state-{n}"
    base = build(load_text(scale_site(n)))
    changed_index = n // 2
    changed = build(load_text(scale_site(n, changed_index)))
    try:
        full_runs = []
        for _ in range(repeat):
            reset_hub(hub, n, state)
            result, spent = timed_apply(base, hub, state)
            kinds = {s.kind for s in result.steps}
            if "ruleset" not in kinds or "tc" not in kinds:
                raise RuntimeError(f"{n} OPDs: a full apply did not build the trees and the ruleset")
            full_runs.append(spent)
        change_runs = []
        name = f"opd{changed_index}"
        for i in range(2 * repeat):  # 100 -> 50mbit, then back, ...
            config = changed if i % 2 == 0 else base
            result, spent = timed_apply(config, hub, state)
            wrong = [s.text for s in result.steps if s.kind != "tc" or f" {name}:" not in s.text]
            if len(result.steps) != 2 or wrong:
                raise RuntimeError(f"{n} OPDs: the rate change of {name} had other steps: "
                                   f"{[s.text for s in result.steps]}")
            change_runs.append(spent)
        unchanged_runs = []
        for _ in range(repeat):
            again, spent = timed_apply(base, hub, state)
            if again.steps:
                raise RuntimeError(f"{n} OPDs: an unchanged re-apply had steps: {again.steps[0].text}")
            unchanged_runs.append(spent)
        classes = sum(len(t.classes) for t in result.shaping.trees)
        return {"n": n, "classes": classes, "full": median_phases(full_runs),
                "change": median_phases(change_runs), "unchanged": median_phases(unchanged_runs),
                "change_lines": change_runs[0].get("tc lines", 0)}
    finally:
        spaces.remove(hub)
        spaces.remove(sink)


# --- the lab: fairness and single flows -------------------------------------------------


def iperf_flow(lab: str, node: str, port: int, seconds: float, download: bool) -> subprocess.Popen:
    from pnsbox.lab import topology

    argv = ["iperf3", "-c", INTERNET_ADDR, "-p", str(port), "-t", str(seconds), "-J", "--connect-timeout", "3000"]
    if download:
        argv.append("-R")
    return subprocess.Popen(topology.exec_argv(lab, node, argv), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def iperf_goodput(proc: subprocess.Popen) -> float:
    out, err = proc.communicate(timeout=120)
    try:
        data = json.loads(out)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"iperf3 gave no JSON: {err.strip() or out[:200]}") from exc
    if "error" in data:
        raise RuntimeError(f"iperf3: {data['error']}")
    return float(data["end"]["sum_received"]["bits_per_second"])


def class_bytes(hub: str, device: str) -> tuple[float, dict[int, int]]:
    from pnsbox.observe import tc

    before = time.perf_counter()
    trees, _ = tc.observe(hub)
    return (before + time.perf_counter()) / 2, {m: c.bytes for m, c in trees[device].classes.items()}


def run_flows(lab: str, hub: str, leaves: dict[str, int], nodes: list[str], download: bool,
              seconds: float) -> tuple[dict[str, float], dict[str, float]]:
    """Concurrent flows from `nodes`; per node its goodput and its class's steady wire rate."""
    device = "pnsbox-dl" if download else "pnsbox-ul"
    warmup = min(1.5, seconds / 3)
    procs = {node: iperf_flow(lab, node, BASE_PORT + i, seconds, download) for i, node in enumerate(nodes)}
    try:
        time.sleep(warmup)
        t1, first = class_bytes(hub, device)
        time.sleep(seconds - warmup - 1.0)
        t2, second = class_bytes(hub, device)
    finally:
        goodput = {}
        for node, proc in procs.items():
            goodput[node] = iperf_goodput(proc)
    wire = {node: (second[leaves[node]] - first[leaves[node]]) * 8 / (t2 - t1) for node in nodes}
    return goodput, wire


def jain(values: list[float]) -> float:
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


def wait_listening(lab: str, ports: list[int]) -> None:
    from pnsbox.lab import topology

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = sh(topology.exec_argv(lab, "internet", ["ss", "-Htln"])).stdout
        if all(f":{port} " in out for port in ports):
            return
        time.sleep(0.05)
    raise RuntimeError(f"iperf3 servers on {ports} did not start listening")


def measure_lab(lab: str, tmp: Path, fair_seconds: float, single_seconds: float, ceilings: tuple[int, ...]):
    from pnsbox.apply.pipeline import apply
    from pnsbox.lab import topology

    config = fair_site()
    topology.lab_up(config, lab)
    hub = topology.netns_name(lab, "hub")
    state = tmp / "state-lab"
    result = apply(config, hub, str(state))
    nodes = [f"o{i}" for i in range(FAIR_OPDS)]
    leaves = {node: result.shaping.leaves[(node, None)] for node in nodes}
    ports = [BASE_PORT + i for i in range(FAIR_OPDS)]
    servers = [subprocess.Popen(topology.exec_argv(lab, "internet", ["iperf3", "-s", "-p", str(port)]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
    try:
        wait_listening(lab, ports)
        fairness = {}
        for guaranteed in FAIR_GUARANTEES:
            changed = apply(fair_site(guaranteed_mbit=guaranteed), hub, str(state))
            if any(s.kind != "tc" for s in changed.steps):
                raise RuntimeError(f"changing the guarantees changed more than classes: "
                                   f"{[s.text for s in changed.steps]}")
            for download in (True, False):
                direction = "download" if download else "upload"
                fairness[(guaranteed, direction)] = run_flows(lab, hub, leaves, nodes, download, fair_seconds)
                print(f"  fairness, guaranteed {guaranteed}mbit, {direction}: done", flush=True)
        apply(fair_site(), hub, str(state))
        singles = []
        for ceiling in ceilings:
            changed = apply(fair_site(ceiling), hub, str(state))
            if any(s.kind != "tc" for s in changed.steps):
                raise RuntimeError(f"setting o0's ceiling changed more than its classes: "
                                   f"{[s.text for s in changed.steps]}")
            for download in (True, False):
                goodput, wire = run_flows(lab, hub, leaves, ["o0"], download, single_seconds)
                singles.append((ceiling, "download" if download else "upload", goodput["o0"], wire["o0"]))
        print("  single flows: done", flush=True)
        return fairness, singles
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


# --- report -------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def goal_line(what: str, value: str, met: bool | None) -> str:
    verdict = "not measured" if met is None else ("met" if met else "MISSED")
    return f"  {what:<50} {value:>12}   {verdict}"


PHASE_ORDER = ("render nft", "render tc", "render net", "plan", "observe links", "observe tc", "nft digest",
               "nft -c", "nft -f", "tc batch", "netlink steps", "state record", "facts probe")


def print_apply(results: list[dict]) -> None:
    print("\n1. full apply (interfaces present, nothing else), median:")
    print(f"  {'OPDs':>5} {'classes':>8} {'tc lines':>9} {'tc part':>10} {'per class':>10} {'x 10 OPDs':>10}"
          f" {'whole apply':>12}")
    first = results[0]["full"]["tc batch"]
    for r in results:
        full = r["full"]
        print(f"  {r['n']:>5} {r['classes']:>8} {int(full.get('tc lines', 0)):>9} {ms(full['tc batch']):>10} "
              f"{full['tc batch'] / r['classes'] * 1e6:>8.0f} us {full['tc batch'] / first:>10.1f}"
              f" {ms(full['total']):>12}")
    print("\n2. one OPD's rate change (ceiling 100mbit <-> 50mbit; steps: its 2 `tc class change` lines), "
          "and an unchanged re-apply, median:")
    print(f"  {'OPDs':>5} {'rate change':>12} {'tc part':>9} {'x 10 OPDs':>10} {'unchanged':>10}")
    first = results[0]["change"]["total"]
    for r in results:
        print(f"  {r['n']:>5} {ms(r['change']['total']):>12} {ms(r['change']['tc batch']):>9} "
              f"{r['change']['total'] / first:>10.1f} {ms(r['unchanged']['total']):>10}")
    print("\n  where a rate change spends its time (ms, median per phase):")
    print("  " + f"{'phase':<14}" + "".join(f"{r['n']:>10}" for r in results))
    for phase in (*PHASE_ORDER, "total"):
        if any(r["change"].get(phase, 0) > 0 for r in results):
            print("  " + f"{phase:<14}" + "".join(f"{r['change'].get(phase, 0) * 1000:>10.1f}" for r in results))
    other = [r["change"]["total"] - sum(r["change"].get(p, 0) for p in PHASE_ORDER) for r in results]
    print("  " + f"{'(other)':<14}" + "".join(f"{o * 1000:>10.1f}" for o in other))


def print_lab(fairness: dict, singles: list, fair_seconds: float, single_seconds: float) -> dict[str, float]:
    print(f"\n3. fairness: {FAIR_OPDS} OPDs with equal plans (ceiling 100mbit each, pipe {FAIR_PIPE // MBIT}mbit), "
          f"{FAIR_OPDS} concurrent iperf3 TCP flows of {fair_seconds:g} s:")
    indices = {}
    for (guaranteed, direction), (goodput, wire) in fairness.items():
        if direction == "download":
            spare = FAIR_PIPE // MBIT - FAIR_OPDS * guaranteed
            print(f"  guaranteed {guaranteed}mbit each ({spare}mbit of the pipe is shared by borrowing):")
        values = [goodput[n] for n in sorted(goodput, key=lambda n: int(n[1:]))]
        wires = [wire[n] for n in sorted(wire, key=lambda n: int(n[1:]))]
        indices[(guaranteed, direction)] = jain(values)
        print(f"  {direction:<8} goodput Mbit/s: " + " ".join(f"{v / MBIT:5.2f}" for v in values))
        print(f"  {'':<8} wire    Mbit/s: " + " ".join(f"{v / MBIT:5.2f}" for v in wires))
        print(f"  {'':<8} Jain's index (goodput) {jain(values):.4f}, (wire) {jain(wires):.4f}; "
              f"min/max goodput {min(values) / max(values):.3f}; total goodput {sum(values) / MBIT:.1f}, "
              f"total wire {sum(wires) / MBIT:.1f} Mbit/s of a {FAIR_PIPE // MBIT}mbit pipe")
    print(f"\n4. single flows, OPD o0 alone ({single_seconds:g} s each); goodput tops out at "
          f"{GOODPUT_PER_WIRE:.3f} of the wire rate:")
    print(f"  {'ceiling':>8} {'direction':>9} {'goodput':>14} {'wire':>14} {'goodput/ceil':>13} {'wire/ceil':>10}")
    for ceiling, direction, goodput, wire in singles:
        c = ceiling * MBIT
        print(f"  {ceiling:>5}mbit {direction:>9} {goodput / MBIT:>8.2f} Mbit/s {wire / MBIT:>8.2f} Mbit/s "
              f"{goodput / c:>13.3f} {wire / c:>10.3f}")
    return indices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 and 100 OPDs, short flows")
    parser.add_argument("--repeat", type=int, default=None, help="runs per timing (default 5, quick 3)")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    repeat = args.repeat or (3 if args.quick else 5)
    fair_seconds, single_seconds = (4, 3) if args.quick else (10, 5)
    ceilings = QUICK_SINGLE_CEILINGS if args.quick else SINGLE_CEILINGS

    if os.geteuid() != 0:
        print("bench/shaping.py needs root: it builds network namespaces (sudo .venv/bin/python "
              "bench/shaping.py)", file=sys.stderr)
        return 2
    missing = [f"{tool} (Debian package {pkg})" for tool, pkg in TOOLS.items() if not shutil.which(tool)]
    if missing:
        print("bench/shaping.py needs " + ", ".join(missing), file=sys.stderr)
        return 2

    print(f"bench/shaping.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {machine()}")
    print(f"pnsbox: {code_version()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"apply timings: {', '.join(map(str, sizes))} OPDs, median of {repeat} runs in this process after "
          "a warm-up", flush=True)

    from pnsbox.lab import topology

    unwind_on_sigterm()
    spaces = Namespaces()
    lab = f"bsh{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="pnsbench-shaping-"))
    results: list[dict] = []
    try:
        measure_apply(spaces, 10, 1, tmp / "warm")  # warm-up: imports, pyroute2, the nft and tc binaries
        for n in sizes:
            results.append(measure_apply(spaces, n, repeat, tmp))
            print(f"  {n} OPDs done", flush=True)
        fairness, singles = measure_lab(lab, tmp, fair_seconds, single_seconds, ceilings)
    finally:
        spaces.close()
        if os.getpid() == MAIN_PID:
            topology.lab_down(lab)
        shutil.rmtree(tmp, ignore_errors=True)

    print_apply(results)
    indices = print_lab(fairness, singles, fair_seconds, single_seconds)
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("goals:")
    for r in results:
        change = r["change"]["total"]
        print(goal_line(f"rate change of one OPD at {r['n']} OPDs < {ms(GOAL_CHANGE_S)}", ms(change),
                        change < GOAL_CHANGE_S))
    for (guaranteed, direction), index in indices.items():
        print(goal_line(f"Jain's index, {FAIR_OPDS} x {guaranteed}mbit, {direction} >= {GOAL_JAIN}",
                        f"{index:.4f}", index >= GOAL_JAIN))
    return 0


if __name__ == "__main__":
    sys.exit(main())

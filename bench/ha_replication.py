"""The HA pair's replication, measured in a lab of the HA example (rules/examples/province-ha).

`pnsbox lab up` builds it, `pnsbox apply --lab` puts version 1 on both hubs (keepalived elects
hub-a), both hubs' pnsboxd run with --peer and the pair key. Then, in one run:
1. Replication latency: N applies through hub-a's control API, each a new ruleset; for each, the
   active's own apply (the API round trip) and, side by side, how long after that reply hub-b's
   pnsboxd runs the same version with the same ruleset digest in its kernel (polled every 10 ms).
2. Catch-up: hub-b's pnsboxd stopped, K applies on hub-a, hub-b started again: the time from its
   start until it runs the newest version (the K versions fetched and recorded in order, one
   kernel apply), beside the time of one apply on hub-a.

A benchmark, not a test: it prints what it saw and exits 0. Needs root, keepalived, conntrackd.

    sudo .venv/bin/python bench/ha_replication.py [--quick] [--applies N] [--missed K]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchkit import code_version, machine, unwind_on_sigterm  # noqa: E402

from pnsbox.control.client import ControlClient  # noqa: E402
from pnsbox.control.messages import ApplyRequest  # noqa: E402
from pnsbox.daemon import pairkey  # noqa: E402
from pnsbox.lab.topology import netns_name  # noqa: E402
from pnsbox.observe import ha, table  # noqa: E402
from pnsbox.store import site_files  # noqa: E402

SITE = ROOT / "rules" / "examples" / "province-ha"
BIN = ROOT / ".venv" / "bin"
HUBS = ("hub-a", "hub-b")


def pnsbox(*argv: str) -> str:
    return subprocess.run([str(BIN / "pnsbox"), *argv], capture_output=True, text=True, check=True).stdout


def wait_for(predicate, seconds: float, step: float = 0.01) -> float | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(step)
    return None


class Pair:
    def __init__(self, lab: str, state: Path):
        self.lab, self.state = lab, state
        self.ns = {hub: netns_name(lab, hub) for hub in HUBS}
        self.procs: dict[str, subprocess.Popen] = {}
        self.files = site_files(SITE)
        self.round = 0

    def socket(self, hub: str) -> str:
        return str(self.state / f"{hub}.sock")

    def start(self, hub: str) -> float:
        if os.path.exists(self.socket(hub)):
            os.unlink(self.socket(hub))
        started = time.monotonic()
        self.procs[hub] = subprocess.Popen(
            [str(BIN / "pnsboxd"), "--state-dir", str(self.state / self.ns[hub]), "--socket", self.socket(hub),
             "--netns", self.ns[hub], "--metrics-listen", "off", "--peer", hub],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(lambda: os.path.exists(self.socket(hub)), 60), f"pnsboxd for {hub} did not start"
        return started

    def stop(self, hub: str) -> None:
        self.procs[hub].terminate()
        self.procs[hub].wait()

    def apply_on_a(self) -> tuple[int, float]:
        """A new version on hub-a (a policy renamed: a new ruleset); (version, seconds)."""
        self.round += 1
        files = dict(self.files)
        files["pnsbox.yaml"] = files["pnsbox.yaml"].replace("name: it-support,", f"name: it-support-{self.round},")
        started = time.monotonic()
        reply = ControlClient(self.socket("hub-a")).apply(ApplyRequest(files=files, message=f"round {self.round}"))
        return reply.version, time.monotonic() - started

    def b_runs(self, version: int) -> bool:
        try:
            status = ControlClient(self.socket("hub-b"), timeout=5).status()
        except OSError:
            return False
        return status.running == version and table.running_digest(self.ns["hub-b"]) == \
            table.running_digest(self.ns["hub-a"])

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"median {statistics.median(ordered) * 1000:.0f} ms, p90 {ordered[int(0.9 * (len(ordered) - 1))] * 1000:.0f} "
            f"ms, max {ordered[-1] * 1000:.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 applies, 3 missed versions")
    parser.add_argument("--applies", type=int, default=20)
    parser.add_argument("--missed", type=int, default=10)
    args = parser.parse_args()
    applies, missed = (5, 3) if args.quick else (args.applies, args.missed)
    if os.geteuid() != 0:
        print("needs root (network namespaces)")
        return 0
    unwind_on_sigterm()
    print(f"# bench/ha_replication.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {code_version()}")
    print(f"# {machine()}")
    lab = f"hr{uuid.uuid4().hex[:5]}"
    state = Path(tempfile.mkdtemp(prefix="pnsbox-bench-ha-"))
    pair = Pair(lab, state)
    try:
        pnsbox("lab", "up", "-c", str(SITE), "--name", lab)
        pnsbox("apply", "-c", str(SITE), "--lab", lab, "--state-dir", str(state), "-m", "base")
        key = pairkey.create(state / pair.ns["hub-a"] / pairkey.FILE)
        shutil.copy(key, state / pair.ns["hub-b"] / pairkey.FILE)
        wait_for(lambda: ha.role(pair.ns["hub-a"]).role == "active", 10)
        print(f"roles: hub-a {ha.role(pair.ns['hub-a']).role}, hub-b {ha.role(pair.ns['hub-b']).role}")
        for hub in HUBS:
            pair.start(hub)

        own, lags = [], []
        for _ in range(applies):
            version, seconds = pair.apply_on_a()
            replied = time.monotonic()
            arrived = wait_for(lambda version=version: pair.b_runs(version), 30)
            own.append(seconds)
            lags.append((arrived or float("nan")) - replied)
            time.sleep(0.2)
        print(f"\n1. replication latency over {applies} applies (each a new ruleset)")
        print(f"   hub-a's own apply (control API round trip): {summary(own)}")
        print(f"   hub-b runs it, same digest, after hub-a's reply: {summary(lags)}")
        print(f"   ratio (median lag / median apply): {statistics.median(lags) / statistics.median(own):.2f}")
        print(f"   goal: on the standby within 2 s: {'met' if max(lags) < 2 else 'NOT met'} (max {max(lags):.2f} s)")

        pair.stop("hub-b")
        for _ in range(missed):
            version, seconds = pair.apply_on_a()
        started = pair.start("hub-b")
        caught = wait_for(lambda: pair.b_runs(version), 120)
        print(f"\n2. catch-up: hub-b down for {missed} versions, then started again")
        print(f"   from its start to running version {version} (same digest): {caught - started:.2f} s "
              f"(one apply on hub-a: {seconds:.2f} s; pnsboxd's own start included)")
    finally:
        pair.close()
        subprocess.run([str(BIN / "pnsbox"), "lab", "down", "--name", lab], capture_output=True)
        for ns in pair.ns.values():
            shutil.rmtree(Path("/run/pnsbox/ha") / ns, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Daemon benchmark: apply latency through pnsboxd's control API at 10, 100 and 1,000 OPDs,
side by side with the same apply made in process; the daemon's memory and idle CPU (its
drift loop) at each size; and the time of one Prometheus scrape.

    sudo .venv/bin/python bench/daemon.py            # sizes 10, 100, 1000
    sudo .venv/bin/python bench/daemon.py --quick    # sizes 10 and 100

Per size, two hub namespaces with the interfaces of the generated site (bench/scale.py's):
one managed by a real pnsboxd process (over its Unix socket, as the CLI does), one by
pipeline.apply() in this process. Each measured change is made on both, alternately:
  first apply   a fresh hub (no table, links down) takes the whole site
  unchanged     the same site again: nothing to change
  rate change   one OPD's ceiling changes (the fast path: only its HTB classes)
  new policy    one policy more (a new ruleset; links and classes stay)
The daemon's numbers include what the in-process apply does not do: building the config from
the files, the anti-lockout check, recording the version and the audit entry.

Everything runs in `pnsbench-<pid>-*` namespaces, removed on exit. Not a test: exits 0.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchkit import Namespaces, code_version, machine, unwind_on_sigterm
from scale import build_hub, fmt_time, reset_hub, site_yaml

from pnsbox.apply.pipeline import apply
from pnsbox.control.client import ControlClient
from pnsbox.load import load_site
from pnsbox.store import site_files
from pnsbox.validate import build

ROOT = Path(__file__).resolve().parents[1]
PNSBOXD = ROOT / ".venv" / "bin" / "pnsboxd"
SIZES, QUICK_SIZES = (10, 100, 1000), (10, 100)
CHANGES = ("first apply", "unchanged", "rate change", "new policy")
IDLE_SECONDS = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _site(directory: Path, text: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pnsbox.yaml").write_text(text)
    return str(directory)


def _variants(n: int, work: Path) -> dict[str, str]:
    base = site_yaml(n)
    rate = base.replace("opd0: {name: OPD 0, subnet: 10.64.0.0/24, link: {interface: o0}, "
                        "bandwidth: {guaranteed: 1mbit, ceiling: 100mbit}}",
                        "opd0: {name: OPD 0, subnet: 10.64.0.0/24, link: {interface: o0}, "
                        "bandwidth: {guaranteed: 1mbit, ceiling: 50mbit}}")
    assert rate != base
    policy = rate.replace("policies:\n", "policies:\n  - {name: extra, from: opd1, to: simpeg, ports: [tcp/8080], "
                                         "action: accept}\n", 1)
    return {"base": _site(work / "base", base), "rate": _site(work / "rate", rate),
            "policy": _site(work / "policy", policy)}


class Pnsboxd:
    def __init__(self, hub: str, state: Path, work: Path):
        self.socket = str(work / "control.sock")
        self.port = _free_port()
        Path(self.socket).unlink(missing_ok=True)
        self.proc = subprocess.Popen([str(PNSBOXD), "--state-dir", str(state), "--socket", self.socket,
                                      "--netns", hub, "--metrics-listen", f"127.0.0.1:{self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(self.socket):
                return
            time.sleep(0.05)
        raise RuntimeError("pnsboxd did not start")

    def apply(self, site: str) -> float:
        start = time.perf_counter()
        status, reply = ControlClient(self.socket).request("POST", "/apply", {"files": site_files(site), "author": "bench"})
        seconds = time.perf_counter() - start
        if status != 200:
            raise RuntimeError(f"pnsboxd: {reply}")
        return seconds

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def scrape(self) -> tuple[float, int]:
        start = time.perf_counter()
        body = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=30).read()
        return time.perf_counter() - start, len(body)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _in_process(site: str, hub: str, state: Path) -> float:
    start = time.perf_counter()
    apply(build(load_site(site)), hub, str(state))
    return time.perf_counter() - start


def measure(n: int, repeat: int, spaces: Namespaces) -> dict:
    """Each round: both hubs fresh, a new daemon with an empty state directory (so nothing
    repairs the fresh hub before the first apply), then the four changes on both, alternately."""
    work = Path(tempfile.mkdtemp(prefix=f"pnsbench-daemon-{n}-"))
    sites = _variants(n, work)
    daemon_hub, local_hub = build_hub(spaces, f"d{n}", n), build_hub(spaces, f"l{n}", n)
    times = {change: {"daemon": [], "in process": []} for change in CHANGES}
    steps = (("first apply", "base"), ("unchanged", "base"), ("rate change", "rate"), ("new policy", "policy"))
    daemon = None
    try:
        for round_ in range(repeat):
            reset_hub(local_hub, n, work / "local-state")
            reset_hub(daemon_hub, n, work / f"daemon-state-{round_}")
            if daemon:
                daemon.stop()
            daemon = Pnsboxd(daemon_hub, work / f"daemon-state-{round_}", work)
            for change, site in steps:
                times[change]["daemon"].append(daemon.apply(sites[site]))
                times[change]["in process"].append(_in_process(sites[site], local_hub, work / "local-state"))
        rss = daemon.rss_mib()
        cpu_before, wall_before = daemon.cpu_seconds(), time.monotonic()
        time.sleep(IDLE_SECONDS)
        idle_cpu = (daemon.cpu_seconds() - cpu_before) / (time.monotonic() - wall_before)
        scrapes = [daemon.scrape() for _ in range(5)]
    finally:
        if daemon:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"n": n, "times": times, "rss": rss, "idle_cpu": idle_cpu,
            "scrape": statistics.median(s[0] for s in scrapes), "scrape_bytes": scrapes[-1][1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes 10 and 100 only")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/daemon.py needs root (network namespaces)", file=sys.stderr)
        return 2
    unwind_on_sigterm()
    print(f"# bench/daemon.py — {datetime.date.today()} — {machine()}")
    print(f"# code: {code_version()}; medians of {args.repeat}\n")
    spaces = Namespaces()
    results = []
    try:
        for n in QUICK_SIZES if args.quick else SIZES:
            results.append(measure(n, args.repeat, spaces))
            spaces.close()
    finally:
        spaces.close()
    print("| OPDs | change | through pnsboxd | in process | ratio |")
    print("|---:|---|---:|---:|---:|")
    for result in results:
        for change in CHANGES:
            daemon = statistics.median(result["times"][change]["daemon"])
            local = statistics.median(result["times"][change]["in process"])
            print(f"| {result['n']} | {change} | {fmt_time(daemon)} | {fmt_time(local)} | {daemon / local:.2f} |")
    print("\n| OPDs | daemon RSS | idle CPU (drift loop) | metrics scrape | scrape size |")
    print("|---:|---:|---:|---:|---:|")
    for result in results:
        print(f"| {result['n']} | {result['rss']:.0f} MiB | {result['idle_cpu'] * 100:.1f}% of a core "
              f"| {fmt_time(result['scrape'])} | {result['scrape_bytes'] / 1024:.0f} KiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

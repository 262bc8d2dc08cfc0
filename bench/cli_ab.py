"""`pnsbox apply` of two pnsbox checkouts side by side: what the CLI costs, before and after a change.

    sudo .venv/bin/python bench/cli_ab.py before=/path/to/old/checkout after=. [--opds 1000] [--runs 9]

Each checkout (a directory holding pnsbox/ and webui/, compiled classifier modules included)
gets a hub namespace and a state directory of its own (the code fingerprint differs, so they
cannot share one), with bench/scale.py's site applied once. Then, without pnsboxd and then
through a pnsboxd started from that checkout, each round runs for every checkout in turn an
unchanged re-apply and one OPD's rate change: the two checkouts alternate, so a busy moment
of a shared machine falls on both. The commands are the venv's `pnsbox` with PYTHONPATH set
to the checkout, bytecode cached, timed from outside (Python's start included).

Printed per path and checkout: the median and minimum wall time, the CLI process's CPU time
(its own and its nft/tc children's), and pnsboxd's CPU during the command. Namespaces are named
`pnsbench-<pid>-*` and removed on exit; the host's own namespace is never changed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchkit import Namespaces, machine, unwind_on_sigterm
from scale import build_hub, rate_changed, site_yaml

BIN = Path(sys.executable).parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: bytecode cached
MODES = ("no daemon", "through pnsboxd")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def pnsbox(checkout: str, argv: list[str], expect: str, daemon: subprocess.Popen | None) -> tuple[float, float, float]:
    """One command: (wall, its CPU, pnsboxd's CPU meanwhile), seconds."""
    cpu, daemon_cpu = _children_cpu(), _cpu_of(daemon.pid) if daemon else 0.0
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "pnsbox"), *argv], capture_output=True, text=True, cwd="/",
                          env={**ENV, "PYTHONPATH": checkout})
    wall = time.perf_counter() - start
    if proc.returncode != 0 or expect not in proc.stdout:
        raise RuntimeError(f"{checkout}: pnsbox {argv[0]}: expected {expect!r}, got {proc.returncode}: "
                           f"{(proc.stdout + proc.stderr)[-400:]}")
    return wall, _children_cpu() - cpu, (_cpu_of(daemon.pid) - daemon_cpu) if daemon else 0.0


def start_daemon(checkout: str, hub: str, state: Path, socket: Path) -> subprocess.Popen:
    daemon = subprocess.Popen([str(BIN / "pnsboxd"), "--state-dir", str(state), "--socket", str(socket), "--netns", hub,
                               "--metrics-listen", "off"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**ENV, "PYTHONPATH": checkout})
    for _ in range(400):
        if socket.exists():
            return daemon
        time.sleep(0.05)
    daemon.terminate()
    raise RuntimeError(f"{checkout}: pnsboxd did not open its control socket")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+", metavar="NAME=DIR", help="a name and a pnsbox checkout, two or more")
    parser.add_argument("--opds", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=9, help="rounds per mode (default 9)")
    args = parser.parse_args(argv)
    checkouts = dict(item.split("=", 1) for item in args.checkouts)
    checkouts = {name: str(Path(directory).resolve()) for name, directory in checkouts.items()}
    if os.geteuid() != 0:
        print("bench/cli_ab.py needs root (network namespaces)", file=sys.stderr)
        return 2
    unwind_on_sigterm()
    spaces = Namespaces()
    tmp = Path(tempfile.mkdtemp(prefix="pnsbench-cli-"))
    base = site_yaml(args.opds)
    times: dict[tuple[str, str, str], list[tuple[float, float, float]]] = {}
    print(f"bench/cli_ab.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\nmachine: {machine()}\n"
          f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    try:
        boxes = {}
        for name, checkout in checkouts.items():
            subprocess.run([sys.executable, "-m", "compileall", "-q", f"{checkout}/pnsbox", f"{checkout}/webui"],
                           env=ENV, check=False)
            hub = build_hub(spaces, f"-{name}", args.opds)
            site, state = tmp / f"site-{name}", tmp / f"state-{name}"
            site.mkdir()
            (site / "pnsbox.yaml").write_text(base)
            boxes[name] = (checkout, hub, site, state)
            pnsbox(checkout, ["apply", "-c", str(site), "--netns", hub, "--state-dir", str(state), "--socket",
                              "/nonexistent"], "applied as version 1", None)
        step = 0
        for mode in MODES:
            daemons = {}
            if mode == "through pnsboxd":
                daemons = {name: start_daemon(checkout, hub, state, tmp / f"{name}.sock")
                           for name, (checkout, hub, _, state) in boxes.items()}
                time.sleep(3)  # past their first drift check
            try:
                for _ in range(args.runs):
                    for name, (checkout, hub, site, state) in boxes.items():
                        socket = str(tmp / f"{name}.sock") if daemons else "/nonexistent"
                        command = ["apply", "-c", str(site), "--netns", hub, "--state-dir", str(state), "--socket", socket]
                        times.setdefault((mode, "unchanged re-apply", name), []).append(
                            pnsbox(checkout, command, "nothing to change", daemons.get(name)))
                        step += 1
                        (site / "pnsbox.yaml").write_text(rate_changed(base, step))
                        times.setdefault((mode, "one OPD's rate change", name), []).append(
                            pnsbox(checkout, command, "applied as version", daemons.get(name)))
            finally:
                for daemon in daemons.values():
                    daemon.terminate()
                    daemon.wait()
    finally:
        spaces.close()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"\n`pnsbox apply` at {args.opds} OPDs, {args.runs} rounds, milliseconds: median (min)")
    print(f"{'':<17}{'':<23}{'':<10}{'wall':>16}{'CLI CPU':>16}{'pnsboxd CPU':>13}")
    for (mode, what, name), values in times.items():
        wall, cpu, daemon = ([v[i] * 1000 for v in values] for i in range(3))
        print(f"{mode:<17}{what:<23}{name:<10}{statistics.median(wall):>8.1f} ({min(wall):5.1f})"
              f"{statistics.median(cpu):>8.1f} ({min(cpu):5.1f}){statistics.median(daemon):>13.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

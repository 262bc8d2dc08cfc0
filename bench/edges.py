"""Edges over WireGuard: what the hub's tunnel side costs at 10, 100 and 1,000 peers.

Measured in one run, side by side, on the backend this machine has (kernel WireGuard, or
wireguard-go in userspace):
- a full apply of N peers (an empty interface -> N peers), a re-apply of the same N peers
  (nothing to change), one peer added to N, and reading the N peers back (observe): through
  wg(8) (`wg syncconf`, the apply layer's path) and, for wireguard-go, through its control
  socket directly (one `set` written by Python) for comparison;
- the other design, one interface per OPD: what one more interface costs (start time and, for
  wireguard-go, one more process with its memory), measured on a few and extrapolated.

A benchmark, not a test: it prints the goals and exits 0 either way. Needs root.

    sudo .venv/bin/python bench/edges.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import Namespaces, code_version, machine, unwind_on_sigterm  # noqa: E402

from pnsbox.apply import wg  # noqa: E402
from pnsbox.edge.keys import new_private_key, public_key  # noqa: E402
from pnsbox.observe import wg as observe_wg  # noqa: E402
from pnsbox.render.wg import WgInterface, WgPeer, uapi_set_text  # noqa: E402

GOAL_APPLY_S = 1.0  # the CLI's budget for a full apply of 1,000 OPDs (bench/scale.py)
GOAL_REAPPLY_S = 0.100  # ... and for re-applying an unchanged site
SIZES = (10, 100, 1000)


def peers(n: int) -> tuple[WgPeer, ...]:
    out = []
    for i in range(n):
        key = public_key(new_private_key())
        subnet = f"10.{64 + i // 256}.{i % 256}.0/24"
        out.append(WgPeer(key, (f"10.255.{(i + 2) // 256}.{(i + 2) % 256}/32", subnet), origin=f"opds.o{i}"))
    return tuple(out)


def timed(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def uapi_set(name: str, text: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(wg.socket_path(name))
        sock.sendall(text.encode())
        answer = b""
        while not answer.endswith(b"\n\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    if b"errno=0" not in answer:
        raise RuntimeError(f"{name}: wireguard-go refused the set: {answer!r}")


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def one_size(ns: str, name: str, n: int, kind: str, repeat: int) -> dict:
    key = new_private_key()
    empty = WgInterface(name, key, 51820, ())
    full = WgInterface(name, key, 51820, peers(n))
    grown = WgInterface(name, key, 51820, full.peers + peers(1))
    out = {}

    def full_apply():
        wg.sync(ns, empty)
        started = time.perf_counter()
        wg.sync(ns, full)
        return time.perf_counter() - started

    out["apply (wg syncconf)"] = statistics.median(full_apply() for _ in range(repeat))
    out["re-apply unchanged"] = timed(lambda: wg.sync(ns, full), repeat)

    def add_one():
        wg.sync(ns, full)
        started = time.perf_counter()
        wg.sync(ns, grown)
        return time.perf_counter() - started

    out["one peer added"] = statistics.median(add_one() for _ in range(repeat))
    out["observe (wg show dump)"] = timed(lambda: observe_wg.read(ns, name), repeat)
    assert len(observe_wg.read(ns, name).peers) == n + 1
    if kind == wg.USERSPACE:
        def uapi_full():
            uapi_set(name, uapi_set_text(empty))
            started = time.perf_counter()
            uapi_set(name, uapi_set_text(full))
            return time.perf_counter() - started

        out["apply (control socket, direct)"] = statistics.median(uapi_full() for _ in range(repeat))
        assert len(observe_wg.read(ns, name).peers) == n
    return out


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def per_opd_interfaces(ns: str, kind: str, count: int) -> dict:
    """The other design: what each extra interface costs."""
    tag = uuid.uuid4().hex[:4]
    names = [f"wgb{tag}{i}" for i in range(count)]
    started = time.perf_counter()
    try:
        for i, name in enumerate(names):
            wg.ensure(ns, name, kind)
            wg.sync(ns, WgInterface(name, new_private_key(), 52000 + i, peers(1)))
        took = (time.perf_counter() - started) / count
        rss = [rss_kib(pid) for name in names for pid in wg.userspace_pids(ns, name)]
    finally:
        for name in names:
            wg.remove(ns, name)
    return {"seconds": took, "rss_kib": statistics.median(rss) if rss else 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 and 100 peers, one repeat")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (it builds namespaces)", file=sys.stderr)
        return 2
    unwind_on_sigterm()
    print(f"machine: {machine()}")
    print(f"code: {code_version()}")
    spaces = Namespaces()
    ns = spaces.add("edges")
    kind = wg.backend(ns)
    print(f"WireGuard backend: {kind}")
    if kind is None:
        print("no WireGuard here (neither the kernel module nor wireguard-go)")
        return 0
    name = f"wgb{uuid.uuid4().hex[:8]}"
    results = {}
    try:
        wg.ensure(ns, name, kind)
        sizes = SIZES[:2] if args.quick else SIZES
        repeat = 1 if args.quick else 3
        for n in sizes:
            results[n] = one_size(ns, name, n, kind, repeat)
        print()
        rows = list(results[sizes[0]])
        print(f"  {'peers on one interface':<34}" + "".join(f"{n:>12}" for n in sizes))
        for row in rows:
            print(f"  {row:<34}" + "".join(f"{fmt(results[n][row]):>12}" for n in sizes))
        extra = per_opd_interfaces(ns, kind, 3 if args.quick else 10)
        print()
        print("one interface per OPD instead (each its own UDP port"
              + (", its own wireguard-go process):" if kind == wg.USERSPACE else "):"))
        print(f"  per interface: {fmt(extra['seconds'])} to start and configure"
              + (f", {extra['rss_kib'] / 1024:.1f} MiB resident" if extra["rss_kib"] else ""))
        print(f"  1,000 OPDs so: ~{extra['seconds'] * 1000:.1f} s"
              + (f", ~{extra['rss_kib'] * 1000 / 1024 / 1024:.1f} GiB" if extra["rss_kib"] else "")
              + ", 1,000 listening ports")
        big = results.get(1000)
        if big:
            print()
            print("goals:")
            for what, value, goal in (("full apply of 1,000 peers", big["apply (wg syncconf)"], GOAL_APPLY_S),
                                      ("re-apply of 1,000 unchanged peers", big["re-apply unchanged"],
                                       GOAL_REAPPLY_S)):
                print(f"  {what + ' < ' + fmt(goal):<52} {fmt(value):>12}   {'met' if value < goal else 'MISSED'}")
    finally:
        wg.remove(ns, name)
        spaces.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

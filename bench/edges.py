"""Edges over WireGuard: what the hub's tunnel side costs at 10, 100 and 1,000 peers.

Measured in one run, side by side, on the backend this machine has (kernel WireGuard, or
wireguard-go in userspace):
- a full apply of N peers (an empty interface -> N peers), a re-apply of the same N peers
  (nothing to change), one peer added to N, and reading the N peers back (observe): through
  wg(8) (`wg syncconf`, the apply layer's path) and, for wireguard-go, through its control
  socket directly (one `set` written by Python) for comparison;
- the other design, one interface per OPD: what one more interface costs (start time and, for
  wireguard-go, one more process with its memory), measured on a few and extrapolated;
- throughput of one TCP flow (iperf3) through one tunnel, against the same two namespaces'
  plain path (the tunnel's underlay), interleaved runs in one process;
- the time from `pnsbox edge enroll` to the first packet through the tunnel: a real pnsboxd
  applying a one-OPD site in a hub namespace, pnsbox-web there, the edge in another namespace.

A benchmark, not a test: it prints the goals and exits 0 either way. Needs root.

    sudo .venv/bin/python bench/edges.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import Namespaces, code_version, machine, sh, unwind_on_sigterm  # noqa: E402

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


def iperf(client_ns: str, server: str, seconds: float) -> float:
    out = subprocess.run(["ip", "netns", "exec", client_ns, "iperf3", "-c", server, "-t", str(seconds), "-J",
                          "--connect-timeout", "3000"], capture_output=True, text=True).stdout
    report = json.loads(out)
    if "error" in report:
        raise RuntimeError(f"iperf3: {report['error']}")
    return float(report["end"]["sum_received"]["bits_per_second"])


def throughput(spaces: Namespaces, kind: str, repeat: int, seconds: float) -> dict[str, list[float]]:
    """One TCP flow a -> b: over the plain veth, and through a tunnel riding that same veth."""
    a, b = spaces.add("tput-a"), spaces.add("tput-b")
    sh(["ip", "link", "add", "u0", "netns", a, "type", "veth", "peer", "u0", "netns", b])
    for ns, address in ((a, "192.0.2.1"), (b, "192.0.2.2")):
        sh(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "u0"])
        sh(["ip", "-n", ns, "link", "set", "u0", "up"])
    tag = uuid.uuid4().hex[:6]
    names = {a: f"wta{tag}", b: f"wtb{tag}"}
    keys = {a: new_private_key(), b: new_private_key()}
    tunnel = {a: "10.255.0.1", b: "10.255.0.2"}
    server = None
    try:
        for ns, other in ((a, b), (b, a)):
            wg.ensure(ns, names[ns], kind)
            far = "192.0.2.2" if ns == a else "192.0.2.1"
            wg.sync(ns, WgInterface(names[ns], keys[ns], 51820,
                                    (WgPeer(public_key(keys[other]), (f"{tunnel[other]}/32",), f"{far}:51820"),)))
            sh(["ip", "-n", ns, "addr", "add", f"{tunnel[ns]}/24", "dev", names[ns]])
            sh(["ip", "-n", ns, "link", "set", names[ns], "up"])
        server = subprocess.Popen(["ip", "netns", "exec", b, "iperf3", "-s"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        runs: dict[str, list[float]] = {"plain": [], "tunnel": []}
        for _ in range(repeat):
            runs["plain"].append(iperf(a, "192.0.2.2", seconds))
            runs["tunnel"].append(iperf(a, tunnel[b], seconds))
        return runs
    finally:
        if server:
            server.kill()
            server.wait()
        for ns, name in names.items():
            wg.remove(ns, name)


SITE = """\
site:
  name: bench
  uplink: {interface: u0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
  wireguard: {tunnel: 10.255.0.0/16, interface: WGNAME}
  edges_url: https://198.51.100.2:8443/
opds:
  disdik: {name: Disdik, subnet: 10.61.0.0/24, link: {wireguard: {}}}
"""


def enroll_to_first_packet(spaces: Namespaces, repeat: int) -> list[float]:
    """Seconds from starting `pnsbox edge enroll` to the hub's tunnel address answering through it."""
    from pnsbox.control.client import ControlClient
    from pnsbox.lab.ping import ping

    hub, edge = spaces.add("enrol-hub"), spaces.add("enrol-edge")
    sh(["ip", "link", "add", "u0", "netns", hub, "type", "veth", "peer", "u0", "netns", edge])
    for ns, address in ((hub, "198.51.100.2"), (edge, "198.51.100.1")):
        sh(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "u0"])
        sh(["ip", "-n", ns, "link", "set", "u0", "up"])
    tag = uuid.uuid4().hex[:6]
    hub_if, edge_if = f"wgh{tag}", f"wge{tag}"
    tmp = Path(tempfile.mkdtemp(prefix="pnsbench-edges-"))
    sock = str(tmp / "control.sock")
    procs = []
    root = Path(__file__).resolve().parents[1]
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "pnsbox.daemon.main", "--state-dir", str(tmp / "state"),
                                       "--socket", sock, "--netns", hub, "--metrics-listen", "127.0.0.1:0"],
                                      cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        while not os.path.exists(sock):
            time.sleep(0.05)
        client = ControlClient(sock)
        status, reply = client.request("POST", "/apply", {"files": {"pnsbox.yaml": SITE.replace("WGNAME", hub_if)},
                                                          "message": "bench"})
        if status != 200:
            raise RuntimeError(f"apply: {reply}")
        procs.append(subprocess.Popen(["ip", "netns", "exec", hub, sys.executable, "-m", "webui.server", "--listen",
                                       "198.51.100.2:8443", "--state-dir", str(tmp / "web"), "--socket", sock],
                                      cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        while subprocess.run(["ip", "netns", "exec", edge, sys.executable, "-c",
                              "import socket; socket.create_connection(('198.51.100.2', 8443), 1)"],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("pnsbox-web did not start")
            time.sleep(0.2)
        times = []
        for i in range(repeat):
            token = client.request("POST", "/edges/tokens", {"opd": "disdik"})[1]["token"]
            started = time.perf_counter()
            done = subprocess.run(["ip", "netns", "exec", edge, sys.executable, "-m", "pnsbox.cli", "edge", "enroll",
                                   "https://198.51.100.2:8443/", token, "--state-dir", str(tmp / f"edge{i}"),
                                   "--interface", edge_if], cwd=root, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"enroll: {done.stderr.strip()}")
            if not ping("10.255.0.1", timeout=10, netns=edge):
                raise RuntimeError("no packet through the tunnel")
            times.append(time.perf_counter() - started)
            wg.remove(edge, edge_if)  # the next round enrols a new edge from scratch
        return times
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        wg.remove(hub, hub_if)
        wg.remove(edge, edge_if)
        shutil.rmtree(tmp, ignore_errors=True)


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
        rounds, seconds = (1, 2.0) if args.quick else (3, 4.0)
        runs = throughput(spaces, kind, rounds, seconds)
        plain, tunnel = statistics.median(runs["plain"]), statistics.median(runs["tunnel"])
        print()
        print(f"one TCP flow (iperf3, {seconds:g} s, median of {rounds}, interleaved):")
        print(f"  plain path (the underlay)  {plain / 1e9:7.2f} Gbit/s   runs: "
              + ", ".join(f"{r / 1e9:.2f}" for r in runs["plain"]))
        print(f"  through the tunnel         {tunnel / 1e9:7.2f} Gbit/s   runs: "
              + ", ".join(f"{r / 1e9:.2f}" for r in runs["tunnel"]))
        print(f"  tunnel/plain ratio {tunnel / plain:.3f}")
        enrol = enroll_to_first_packet(spaces, 1 if args.quick else 3)
        print()
        print(f"pnsbox edge enroll -> first packet through the tunnel: median {statistics.median(enrol):.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in enrol)}; includes starting Python for the CLI)")
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

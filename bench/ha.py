"""An HA pair's failover, measured in a lab of the HA example (rules/examples/province-ha).

`pnsbox lab up` builds it, `pnsbox apply --lab` starts keepalived and conntrackd in both hubs,
then, all in one run:
1. Failover time, over several failovers back and forth (`lab fail` of the active hub, `lab heal`
   afterwards): when the virtual addresses were on the other hub, and when the first reply came
   back through it to a UDP request stream (every 10 ms, an OPD host to the internet node).
   Side by side: VRRP's own bound (3 adverts plus the skew) from the site's advert interval.
2. Flows surviving out of N: N concurrent TCP connections (NATed, an OPD host to the internet
   node) each exchanging a line every 0.5 s; the active hub dies; which of them still exchange
   lines afterwards, which were reset, which went quiet.
3. conntrackd's sync load: one-packet UDP flows (NATed) from a raw-socket sender at paced
   rates up to 10,000 new flows/s and flat out; conntrackd's CPU on both hubs (from
   /proc/PID/stat) against its idle CPU, flows the active hub's kernel made against flows the
   standby's conntrackd holds, the rate the sender reached. Then short TCP flows (connect,
   a line each way, close) flat out, with conntrackd's CPU per 1,000 flows/s beside the UDP one.

A benchmark, not a test: it prints what it saw and exits 0. Needs root, keepalived, conntrackd.

    sudo .venv/bin/python bench/ha.py [--quick] [--flows N] [--failovers K]
"""

from __future__ import annotations

import argparse
import json
import os
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

from benchkit import code_version, machine, sh, unwind_on_sigterm  # noqa: E402

from pnsbox.apply.ha import paths_for  # noqa: E402
from pnsbox.lab import topology  # noqa: E402
from pnsbox.lab.failover import roles, wait_for_active  # noqa: E402
from pnsbox.load import load_site  # noqa: E402
from pnsbox.observe.ha import running  # noqa: E402
from pnsbox.validate import build  # noqa: E402

SITE = ROOT / "rules" / "examples" / "province-ha"
HUBS = ["hub-a", "hub-b"]
INTERNET = "203.0.113.10"
SINK = "203.0.113.99"  # the flood's destination: dropped on arrival in the internet node
ECHO_PORT = 15202
CLK_TCK = os.sysconf("SC_CLK_TCK")

# A UDP request every 10 ms to the internet node's lab responder (udp/53); prints the epoch time
# of each reply, one a line, for SECONDS.
PROBER = """
import socket, sys, time
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(0.01)
sock.connect((sys.argv[1], 53))
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        sock.send(b"p")
        sock.recv(512)
        print(repr(time.time()), flush=True)
        time.sleep(0.01)
    except OSError:
        pass
"""

# N TCP connections; each sends a line every 0.5 s and reads it back. Prints "ready" once all
# are up, then, after SECONDS, one JSON line: per connection the time of its last echo, or why it ended.
FLOWS = """
import asyncio, json, resource, sys, time
host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
resource.setrlimit(resource.RLIMIT_NOFILE, (count + 256, count + 256))
last, ended = {}, {}
async def talk(i, reader, writer, deadline):
    try:
        while time.time() < deadline:
            writer.write(b"x" * 32 + b"\\n")
            await writer.drain()
            if await asyncio.wait_for(reader.readline(), timeout=max(0.1, deadline - time.time())) == b"":
                ended[i] = "closed"
                return
            last[i] = time.time()
            await asyncio.sleep(0.5)
    except asyncio.TimeoutError:
        pass
    except OSError as exc:
        ended[i] = type(exc).__name__
    finally:
        writer.close()
async def main():
    opened = []
    for first in range(0, count, 100):  # 100 at a time: no SYN flood of our own
        opened += await asyncio.gather(*(asyncio.open_connection(host, port)
                                         for _ in range(first, min(count, first + 100))))
    print("ready", flush=True)
    deadline = time.time() + seconds
    await asyncio.gather(*(talk(i, r, w, deadline) for i, (r, w) in enumerate(opened)))
    print(json.dumps({"last": last, "ended": ended}), flush=True)
asyncio.run(main())
"""

ECHO = """
import asyncio, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
async def echo(reader, writer):
    try:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(echo, sys.argv[1], int(sys.argv[2]), backlog=2048)
    print("listening", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

# One-packet UDP flows at a paced rate from addresses of the OPD's subnet; prints {"sent", "seconds"}.
FLOOD = """
import json, socket, struct, sys, time
dst, rate, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
sources = [socket.inet_aton(a) for a in sys.argv[4].split(",")]
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
packet = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 29, 0, 0, 64, 17, 0, sources[0], socket.inet_aton(dst))
                   + struct.pack("!HHHH", 0, 0, 9, 0) + b"f")
start = time.perf_counter()
for i in range(count):
    packet[12:16] = sources[i % len(sources)]
    struct.pack_into("!HH", packet, 20, 1024 + (i // len(sources)) % 60000, 1024 + i % 50000)
    raw.sendto(packet, (dst, 0))
    if rate and i % 32 == 0:
        ahead = i / rate - (time.perf_counter() - start)
        if ahead > 0:
            time.sleep(ahead)
print(json.dumps({"sent": count, "seconds": time.perf_counter() - start}))
"""


# Short TCP flows flat out for SECONDS: WORKERS loops each connect, send a line, read it back,
# close; prints {"flows", "seconds"}. Each flow is 3+ conntrack events (new, established, closed).
SHORT = """
import asyncio, json, sys, time
host, port, seconds, workers = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
done = 0
async def worker(deadline):
    global done
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"x\\n")
            await reader.readline()
            writer.close()
            await writer.wait_closed()
            done += 1
        except OSError:
            await asyncio.sleep(0.01)
async def main():
    start = time.monotonic()
    await asyncio.gather(*(worker(start + seconds) for _ in range(workers)))
    print(json.dumps({"flows": done, "seconds": time.monotonic() - start}))
asyncio.run(main())
"""


def ns(lab: str, node: str) -> str:
    return topology.netns_name(lab, node)


def in_node(lab: str, node: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns(lab, node), *argv]


def holds_addresses(lab: str, hub: str) -> bool:
    out = sh(["ip", "-n", ns(lab, hub), "-4", "-o", "addr", "show", "dev", "opd-dinkes"]).stdout
    return "10.21.0.1/24" in out


def other(hub: str) -> str:
    return HUBS[1 - HUBS.index(hub)]


def failover_times(lab: str, count: int, advert: float) -> list[tuple[float, float]]:
    """(addresses moved, first reply through) in seconds after the cut, for COUNT failovers."""
    out = []
    for _ in range(count):
        active = wait_for_active(lab, HUBS, 15)
        standby = other(active)
        prober = subprocess.Popen(in_node(lab, "dinkes", sys.executable, "-c", PROBER, INTERNET, "6"),
                                  stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        cut = time.time()
        topology.lab_fail(lab, active)
        moved = None
        while moved is None and time.time() - cut < 5:
            if holds_addresses(lab, standby):
                moved = time.time() - cut
            time.sleep(0.01)
        replies = [float(line) for line in prober.communicate(timeout=15)[0].split()]
        # The outage is the longest silence between replies that ends after the cut; the
        # reply ending it is the first packet through the other hub.
        spells = [(later - earlier, later) for earlier, later in zip(replies, replies[1:], strict=False)
                  if later > cut]
        silence, through = max(spells, default=(None, None))
        first = None if through is None else through - cut
        out.append((moved, first))
        print(f"  {active} -> {standby}: addresses moved {_s(moved)}, first reply through {_s(first)} "
              f"(no reply for {_s(silence)}); VRRP's bound {3 * advert + advert * (256 - 100) / 256:.2f} s")
        topology.lab_heal(lab, active)
        wait_for_role(lab, active, "standby", 10)
    return out


def wait_for_role(lab: str, hub: str, want: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while roles(lab, [hub])[hub] != want and time.monotonic() < deadline:
        time.sleep(0.05)


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def surviving_flows(lab: str, count: int) -> dict:
    echo = subprocess.Popen(in_node(lab, "internet", sys.executable, "-c", ECHO, INTERNET, str(ECHO_PORT)),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout.readline().strip() == "listening"
        active = wait_for_active(lab, HUBS, 15)
        seconds = 14.0
        client = subprocess.Popen(in_node(lab, "dinkes", sys.executable, "-c", FLOWS, INTERNET, str(ECHO_PORT),
                                          str(count), str(seconds)), stdout=subprocess.PIPE, text=True)
        assert client.stdout.readline().strip() == "ready"
        time.sleep(3.0)  # the standby's conntrackd has heard of every connection
        standby_conf = paths_for(ns(lab, other(active))).conntrackd_conf
        cached = sh(in_node(lab, other(active), "conntrackd", "-C", standby_conf, "-e")).stdout.count("dport=15202")
        cut = time.time()
        topology.lab_fail(lab, active)
        wait_for_active(lab, HUBS, 10, not_=active)
        result = json.loads(client.communicate(timeout=seconds + 30)[0].strip().splitlines()[-1])
        topology.lab_heal(lab, active)
        wait_for_role(lab, active, "standby", 10)
    finally:
        echo.kill()
        echo.wait()
    alive = sum(1 for t in result["last"].values() if t > cut + 5)
    return {"count": count, "cached": cached, "alive": alive, "ended": result["ended"],
            "quiet": count - alive - len(result["ended"])}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def sync_load(lab: str, rates: list[int], seconds: float, rounds: int) -> dict[int, list[dict]]:
    """ROUNDS interleaved rounds over RATES (0: flat out, two senders); per rate, each round's
    conntrackd CPU on both hubs (share of one core, over the flood and a second after it)."""
    sh(in_node(lab, "internet", "nft", "-f", "-"),
       stdin=f"table ip pnsbench {{\n chain raw {{\n  type filter hook prerouting priority raw;\n"
             f"  ip daddr {SINK} drop\n }}\n}}\n")
    active = wait_for_active(lab, HUBS, 15)
    standby = other(active)
    pids = {hub: running(paths_for(ns(lab, hub))).conntrackd_pid for hub in HUBS}
    sources = [f"10.21.0.{i}" for i in range(2, 34)]
    sh(["ip", "-n", ns(lab, "dinkes"), "-batch", "-"],
       stdin="".join(f"addr add {a}/24 dev eth0\n" for a in sources[1:]))
    idle = {hub: cpu_seconds(pid) for hub, pid in pids.items()}
    time.sleep(seconds)
    idle = {hub: (cpu_seconds(pid) - idle[hub]) / seconds for hub, pid in pids.items()}
    print(f"  idle: conntrackd CPU {active} (active) {idle[active]:.1%}, {standby} (standby) {idle[standby]:.1%}")
    results: dict[int, list[dict]] = {rate: [] for rate in rates}
    for _ in range(rounds):
        for rate in rates:
            flush(lab, active, standby)
            before = {hub: cpu_seconds(pid) for hub, pid in pids.items()}
            halves = [sources[:16], sources[16:]] if not rate else [sources]
            count = int(rate * seconds) if rate else 40_000
            started = time.monotonic()
            senders = [subprocess.Popen(in_node(lab, "dinkes", sys.executable, "-c", FLOOD, SINK, str(rate),
                                                str(count), ",".join(half)), stdout=subprocess.PIPE, text=True)
                       for half in halves]
            sent = [json.loads(proc.communicate()[0]) for proc in senders]
            time.sleep(1.0)  # what conntrackd still has to send and apply
            elapsed = time.monotonic() - started
            cpu = {hub: (cpu_seconds(pid) - before[hub]) / elapsed for hub, pid in pids.items()}
            made = int(sh(in_node(lab, active, "conntrack", "-C")).stdout.strip() or 0)
            conf = paths_for(ns(lab, standby)).conntrackd_conf
            synced = sh(in_node(lab, standby, "conntrackd", "-C", conf, "-e")).stdout.count(f"dst={SINK}")
            total = sum(one["sent"] for one in sent)
            results[rate].append({"reached": total / max(one["seconds"] for one in sent), "cpu": cpu,
                                  "made": made, "synced": synced, "sent": total})
    for rate, runs in results.items():
        reached = statistics.median(r["reached"] for r in runs)
        cpu = {hub: statistics.median(r["cpu"][hub] for r in runs) for hub in HUBS}
        synced = min(r["synced"] / max(1, r["sent"]) for r in runs)
        held = ", ".join(f"{r['synced']:,}/{r['sent']:,}" for r in runs)
        print(f"  {('flat out' if not rate else f'{rate:,}/s'):>9}: sender reached {reached:,.0f} flows/s; "
              f"conntrackd CPU {active} (active) {cpu[active]:.0%}, {standby} (standby) {cpu[standby]:.0%} "
              f"(medians of {len(runs)}; per 1,000 flows/s: {cpu[active] / reached * 1000:.1%} and "
              f"{cpu[standby] / reached * 1000:.1%}); the standby's cache held at least {synced:.0%} of each flood "
              f"(runs: {held})")
    flush(lab, active, standby)
    return results


def short_tcp_load(lab: str, seconds: float, rounds: int) -> None:
    """conntrackd's CPU while short TCP flows (NATed) run flat out from two generator processes."""
    echo = subprocess.Popen(in_node(lab, "internet", sys.executable, "-c", ECHO, INTERNET, str(ECHO_PORT)),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout.readline().strip() == "listening"
        active = wait_for_active(lab, HUBS, 15)
        standby = other(active)
        pids = {hub: running(paths_for(ns(lab, hub))).conntrackd_pid for hub in HUBS}
        runs = []
        for _ in range(rounds):
            flush(lab, active, standby)
            before = {hub: cpu_seconds(pid) for hub, pid in pids.items()}
            started = time.monotonic()
            gens = [subprocess.Popen(in_node(lab, "dinkes", sys.executable, "-c", SHORT, INTERNET, str(ECHO_PORT),
                                             str(seconds), "32"), stdout=subprocess.PIPE, text=True)
                    for _ in range(2)]
            made = [json.loads(gen.communicate()[0]) for gen in gens]
            time.sleep(1.0)
            elapsed = time.monotonic() - started
            cpu = {hub: (cpu_seconds(pid) - before[hub]) / elapsed for hub, pid in pids.items()}
            runs.append((sum(m["flows"] for m in made) / max(m["seconds"] for m in made), cpu))
    finally:
        echo.kill()
        echo.wait()
    rate = statistics.median(r for r, _ in runs)
    cpu = {hub: statistics.median(c[hub] for _, c in runs) for hub in HUBS}
    print(f"  short TCP flows, flat out (2 generators x 32 connections): {rate:,.0f} flows/s; conntrackd CPU "
          f"{active} (active) {cpu[active]:.0%}, {standby} (standby) {cpu[standby]:.0%} (medians of {len(runs)}; "
          f"per 1,000 flows/s: {cpu[active] / rate * 1000:.1%} and {cpu[standby] / rate * 1000:.1%})")
    flush(lab, active, standby)


def flush(lab: str, active: str, standby: str) -> None:
    """A clean start: no flows in the active hub's kernel or either conntrackd's caches."""
    sh(in_node(lab, active, "conntrack", "-F"), check=False)
    for hub in (active, standby):
        conf = paths_for(ns(lab, hub)).conntrackd_conf
        sh(in_node(lab, hub, "conntrackd", "-C", conf, "-f"), check=False)
    time.sleep(1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 failovers, 200 flows, rates up to 10,000/s")
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--failovers", type=int, default=6)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/ha.py needs root (network namespaces)")
        return 0
    unwind_on_sigterm()
    failovers, flows = (2, 200) if args.quick else (args.failovers, args.flows)
    rates = [1_000, 10_000] if args.quick else [1_000, 5_000, 10_000, 0]
    config = build(load_site(SITE))
    advert = config.site.ha.advert_interval
    lab = f"hab{uuid.uuid4().hex[:5]}"
    print(f"machine: {machine()}\ncode: {code_version()}\nsite: {SITE.relative_to(ROOT)} "
          f"(advert_interval {advert:g} s, preempt {config.site.ha.preempt})\n")
    state = tempfile.mkdtemp(prefix="pnsbench-ha-")
    try:
        topology.lab_up(config, lab)
        subprocess.run([sys.executable, "-m", "pnsbox.cli", "apply", "-c", str(SITE), "--lab", lab,
                        "--state-dir", state], check=True, capture_output=True, cwd=ROOT)
        print(f"1. failover time ({failovers} failovers, `lab fail` of the active hub):")
        times = failover_times(lab, failovers, advert)
        moved = [m for m, _ in times if m is not None]
        first = [f for _, f in times if f is not None]
        if moved and first:
            print(f"   median: addresses moved {statistics.median(moved):.2f} s, first reply "
                  f"{statistics.median(first):.2f} s; worst {max(first):.2f} s; "
                  f"{len(times) - len(first)} failovers without a reply")
        print(f"\n2. flows surviving a failover out of {flows}:")
        survived = surviving_flows(lab, flows)
        print(f"   {survived['cached']} of {flows} in the standby's conntrackd before the cut; "
              f"{survived['alive']} of {flows} still exchanging lines after it "
              f"({survived['alive'] / flows:.1%}); {len(survived['ended'])} ended "
              f"({sorted(set(survived['ended'].values())) or 'none'}); {survived['quiet']} went quiet")
        rounds = 1 if args.quick else 3
        print(f"\n3. conntrackd sync load (one-packet UDP flows, NATed, 3 s each, {rounds} interleaved rounds):")
        sync_load(lab, rates, 3.0, rounds)
        short_tcp_load(lab, 3.0, rounds)
    finally:
        topology.lab_down(lab)
        subprocess.run(["rm", "-rf", state], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start and stop the lab's responders (pnsbox.lab.responder) in its nodes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

from ..model import Config

# Ports every node answers on, whatever the config says: enough to show denials.
DEFAULT_TCP = (22, 25, 53, 80, 443, 445, 5201)
DEFAULT_UDP = (53, 123)


def lab_ports(config: Config) -> tuple[list[int], list[int]]:
    """TCP and UDP ports to answer on: the defaults plus every port the config names
    (the first port of a range)."""
    named = [p for s in config.services.values() for p in s.ports]
    named += [p for policy in config.policies for p in policy.ports]
    if config.site.management:
        named += config.site.management.ports
    tcp = set(DEFAULT_TCP) | {p.first for p in named if p.protocol == "tcp"}
    udp = set(DEFAULT_UDP) | {p.first for p in named if p.protocol == "udp"}
    return sorted(tcp), sorted(udp)


def start(netns: str, node: str, tcp: list[int], udp: list[int]) -> None:
    """A responder in NETNS, detached: it lives until lab_down kills the namespace's processes."""
    argv = [sys.executable, "-m", "pnsbox.lab.responder", node]
    argv += [arg for port in tcp for arg in ("--tcp", str(port))]
    argv += [arg for port in udp for arg in ("--udp", str(port))]
    proc = subprocess.Popen(["ip", "netns", "exec", netns, *argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    # Wait until it listens, so nobody probes a port that is not open yet.
    ready = proc.stdout.readline().strip() == "ready"
    proc.stdout.close()
    if not ready:
        error = proc.stderr.read().strip().splitlines()
        raise RuntimeError(f"lab responder in {netns} did not start: {error[-1] if error else 'no output'}")
    proc.stderr.close()


def stop_all(netns: str) -> None:
    """Kill every process inside NETNS (responders, iperf3 servers a test left)."""
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split()
    for pid in pids:
        if int(pid) != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)

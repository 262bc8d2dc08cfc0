"""Helpers for kernel tests that run the example site in a lab."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

from pnsbox.lab import topology

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "rules" / "examples" / "province"


def wait_for(predicate, seconds: float, step: float = 0.02) -> float | None:
    """When `predicate` first held (time.monotonic()), polling every `step` for `seconds` and once
    more at the end; None if it never did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(step)
    return time.monotonic() if predicate() else None


def new_lab_name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def probe(lab: str, node: str, probes: list[list]) -> dict[tuple, dict]:
    """Run probes from NODE (pnsbox.lab.probe, real sockets); (proto, address, port[, source]) -> outcome."""
    argv = topology.exec_argv(lab, node, [sys.executable, "-m", "pnsbox.lab.probe", json.dumps(probes)])
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return {tuple(o["probe"]): o for o in map(json.loads, out.splitlines())}


def in_node(lab: str, node: str, *argv: str) -> str:
    return subprocess.run(topology.exec_argv(lab, node, list(argv)), capture_output=True, text=True,
                          check=True).stdout


def delete_netns(name: str) -> None:
    """Delete a test's namespace, stopping first the wireguard-go behind any of its interfaces
    (the example site has a tunnelled OPD): it would keep the namespace alive and its socket."""
    from pnsbox.apply import wg

    shown = subprocess.run(["ip", "-n", name, "-j", "link", "show"], capture_output=True, text=True).stdout
    for link in json.loads(shown or "[]"):
        if wg.userspace_pids(name, link["ifname"]):
            wg.remove(name, link["ifname"])
    subprocess.run(["ip", "netns", "del", name], check=False)

"""Run a config's `checks:` from the box itself, after an apply.

Each check gets its own socket made inside the managed namespace, and they
run side by side, so a dead upstream costs one timeout, not one per check.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

from .apply.netns import socket_in
from .model import Checks, Endpoint
from .wording import say


def _reach(address, timeout: float, netns: str | None) -> str | None:
    # imported here: pnsbox.lab brings the lab's topology, which a box without reach checks never needs
    from .lab.ping import ping

    return None if ping(str(address), timeout, netns=netns) else say("check.reach", address=str(address))


def _tcp(endpoint: Endpoint, timeout: float, netns: str | None) -> str | None:
    with socket_in(netns, socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((str(endpoint.address), endpoint.port))
        except TimeoutError:
            return say("check.tcp.timeout", endpoint=str(endpoint), seconds=f"{timeout:g}")
        except OSError as exc:
            return say("check.tcp.error", endpoint=str(endpoint), error=str(exc.strerror or exc))
    return None


def run_checks(checks: Checks, netns: str | None) -> list[str]:
    """What failed, in words, in the config's order; empty when every check held."""
    jobs = [(_reach, a) for a in checks.reach] + [(_tcp, e) for e in checks.tcp]
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool:
        results = list(pool.map(lambda job: job[0](job[1], checks.timeout, netns), jobs))
    return [r for r in results if r]

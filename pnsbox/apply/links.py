"""Links, addresses and routes, changed in one `ip -batch` (read back in observe.links).

One batch process instead of a netlink round trip per step keeps a 1,000-OPD
apply fast; `ip -batch` stops at the first failing line and names it, so the
error maps back to the step and the config that asked for it.
"""

from __future__ import annotations

import re

from ..plan import ROUTE_PROTO, Step, StepKind
from .netns import KernelError, run

PNSBOX_ALIAS = "pnsbox"  # set on links pnsbox creates
_FAILED_LINE = re.compile(r"Command failed -:(\d+)")


def batch_lines(step: Step) -> list[str]:
    """The `ip -batch` lines of one step."""
    kind, args = step.kind, step.args
    if kind is StepKind.VLAN_ADD:
        device, trunk, vlan = args
        return [f"link add link {trunk} name {device} type vlan id {vlan}",
                f"link set dev {device} alias {PNSBOX_ALIAS}"]
    if kind is StepKind.IFB_ADD:
        return [f"link add name {args[0]} type ifb", f"link set dev {args[0]} alias {PNSBOX_ALIAS} up"]
    if kind is StepKind.LINK_UP:
        return [f"link set dev {args[0]} up"]
    if kind is StepKind.LINK_DEL:
        return [f"link del dev {args[0]}"]
    if kind in (StepKind.ADDRESS_ADD, StepKind.ADDRESS_DEL):
        device, cidr = args
        return [f"addr {'add' if kind is StepKind.ADDRESS_ADD else 'del'} {cidr} dev {device}"]
    if kind in (StepKind.ROUTE_ADD, StepKind.ROUTE_DEL):
        destination, device, gateway = args
        # scope link: on the wire. onlink: the gateway stands even while the link has no address
        # of its subnet (an HA standby, until keepalived gives it the uplink's)
        adding = kind is StepKind.ROUTE_ADD
        via = (f"via {gateway}" + (" onlink" if adding else "")) if gateway else "scope link"
        verb = "replace" if adding else "del"
        return [f"route {verb} {destination} {via} dev {device} proto {ROUTE_PROTO}"]
    raise ValueError(f"not an ip step: {kind}")


def execute(steps: list[Step], netns: str | None) -> None:
    """Run link/address/route steps as one batch; an error names the step and its origin."""
    lines, owner = [], []
    for step in steps:
        for line in batch_lines(step):
            lines.append(line)
            owner.append(step)
    if not lines:
        return
    proc = run(["ip", "-batch", "-"], netns, "\n".join(lines) + "\n", check=False)
    if proc.returncode == 0:
        return
    match = _FAILED_LINE.search(proc.stderr)
    step = owner[int(match.group(1)) - 1] if match else None
    done = steps[:steps.index(step)] if step else []  # `ip -batch` ran every line before the failing one
    detail = proc.stderr.replace(match.group(0), "").strip() if match else proc.stderr.strip()
    where = f"{step.origin or 'pnsbox'}: {step.text.strip()}: " if step else ""
    error = KernelError(f"{where}{detail.splitlines()[-1] if detail else 'ip refused'}")
    error.done = done
    raise error


def enable_forwarding(netns: str | None) -> None:
    run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], netns)

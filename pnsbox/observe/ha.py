"""An HA hub as it runs: its keepalived and conntrackd (files and processes) and its role."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..apply.ha_notify import read as read_role_file
from ..render.ha import RUN_ROOT, HAPaths, ha_paths


@dataclass(frozen=True)
class HARunning:
    """What pnsbox's keepalived and conntrackd of one hub are now."""

    keepalived_conf: str | None  # the file's text (None: no file)
    conntrackd_conf: str | None
    keepalived_pid: int | None  # the running process reading that file (None: not running)
    conntrackd_pid: int | None
    links_script: str | None = None  # keepalived's track script


def _text(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def process_of(program: str, conf: str) -> int | None:
    """The oldest running PROGRAM started with CONF on its command line (keepalived's parent,
    or conntrackd). Found through /proc, so the box's systemd units count as well as a lab's."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0].decode(errors="replace")) == program and conf.encode() in argv:
            found.append(int(entry.name))
    return min(found) if found else None


def running(paths: HAPaths) -> HARunning:
    return HARunning(_text(paths.keepalived_conf), _text(paths.conntrackd_conf),
                     process_of("keepalived", paths.keepalived_conf), process_of("conntrackd", paths.conntrackd_conf),
                     _text(paths.links_script))


def edited_since(paths: HAPaths, record: Path) -> bool:
    """One of the hub's keepalived or conntrackd files changed after the apply that wrote them
    (which writes its owned record last): a hand edit the next apply must undo."""
    try:
        applied = record.stat().st_mtime_ns
    except OSError:
        return True
    for path in (paths.keepalived_conf, paths.conntrackd_conf, paths.links_script):
        try:
            if os.stat(path).st_mtime_ns > applied:
                return True
        except OSError:
            return True  # gone: the full path writes it again
    return False


@dataclass(frozen=True)
class HARole:
    role: str  # active, standby, fault, or unknown
    since: float | None  # when it became so (unix time)
    transitions: int  # role changes keepalived reported
    holds_addresses: bool | None  # the virtual addresses are on this hub's links (None: not checked)
    peer: str | None = None  # this hub's name (from role.json)

    def as_dict(self) -> dict:
        return {"role": self.role, "since": self.since, "transitions": self.transitions,
                "holds_addresses": self.holds_addresses, "peer": self.peer}


def role(netns: str | None, run_root: str = RUN_ROOT, addresses: list[tuple[str, str]] | None = None) -> HARole:
    """The hub's role as keepalived's notify hook recorded it, checked against the kernel: an
    active hub holds the virtual `addresses` ((device, cidr), from render.net.virtual_addresses),
    a standby none of them (default: those of the keepalived.conf pnsbox wrote). Where the two
    disagree, or neither says, the role is "unknown"."""
    paths = ha_paths(netns, "", run_root)
    recorded = read_role_file(paths.run_dir)
    said = recorded.get("role")
    holds = None
    if addresses is None:
        addresses = moving_addresses(_text(paths.keepalived_conf) or "")
    if addresses:
        from .links import _ip_json

        present = {(entry["ifname"], f"{a['local']}/{a['prefixlen']}")
                   for entry in _ip_json(netns, "-4", "addr", "show") for a in entry.get("addr_info", [])}
        held = [a in present for a in addresses]
        holds = True if all(held) else False if not any(held) else None  # None: some of them, a mix
        if said is None:
            said = "active" if holds else None
        elif holds is None or (said == "active") != holds:
            said = None  # keepalived's word and the kernel disagree (or a move is under way)
    return HARole(said or "unknown", recorded.get("since"), int(recorded.get("transitions", 0)), holds,
                  recorded.get("peer"))


_VIRTUAL = re.compile(r"^\s+(\d+\.\d+\.\d+\.\d+/\d+) dev (\S+) no_track", re.MULTILINE)


def moving_addresses(keepalived_conf: str) -> list[tuple[str, str]]:
    """(device, cidr) of the virtual addresses in a keepalived.conf render.ha wrote."""
    return [(device, cidr) for cidr, device in _VIRTUAL.findall(keepalived_conf)]


def hubs_of(lab: str | None, netns: str | None, run_root: str = RUN_ROOT) -> list[str | None]:
    """The hubs `pnsbox ha status` reports: a lab's (those with an HA run directory), or one."""
    if not lab:
        return [netns]
    from ..lab.topology import netns_name

    prefix = netns_name(lab, "")
    try:
        return sorted(e.name for e in os.scandir(run_root) if e.name.startswith(prefix) and e.is_dir())
    except OSError:
        return []


def hub_status(netns: str | None, state_dir: str | None = None, run_root: str = RUN_ROOT) -> dict:
    """One hub's role, name and the config version it runs (when its state directory is known)."""
    found = role(netns, run_root).as_dict()
    found["netns"] = netns
    found["version"] = None
    if state_dir and os.path.isdir(state_dir):
        from ..state import StateFiles

        found["version"] = StateFiles(state_dir).confirmed()
    return found

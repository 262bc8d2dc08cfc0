"""keepalived's notify hook (`pnsbox ha notify ROLE`): record the hub's role, put back the routes
the kernel dropped with the addresses, tell conntrackd.

keepalived starts one hook process per transition and does not wait for it, so two hooks
(standby then active, at start) can run at once. Each takes a lock and records the start time
of its own process; a hook that finds a later transition already recorded does nothing, so
role.json and conntrackd always end with the last transition. Imports only the standard
library (and render.ha, which is light): keepalived waits for no one, but the role should be on
disk within a moment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import time
from pathlib import Path

ROLE_FILE = "role.json"

# What conntrackd is told at each transition, as Debian's primary-backup.sh does it.
CONNTRACKD = {
    # commit the peer's flows into the kernel, flush both caches, resync from the kernel, send
    # everything to the peer
    "active": (["-c"], ["-f"], ["-R"], ["-B"]),
    # shorten the kernel's timers of flows this hub no longer carries; ask the active one for a resync
    "standby": (["-t"], ["-n"]),
    "fault": (["-t"],),
}


def _started() -> list[int]:
    """This process's start (clock ticks since boot) and pid: the order keepalived forked the hooks in."""
    stat = Path("/proc/self/stat").read_text()
    return [int(stat.rsplit(")", 1)[1].split()[19]), os.getpid()]


def read(run_dir: str) -> dict:
    try:
        found = json.loads(Path(run_dir, ROLE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _write(run_dir: str, record: dict) -> None:
    path = Path(run_dir, ROLE_FILE)
    tmp = path.with_name(f".{ROLE_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def record(run_dir: str, role: str, peer: str | None, order: list[int] | None = None) -> dict | None:
    """role.json: the role, since when, how many times it changed, and the hook that wrote it.
    None when a later transition is already recorded."""
    before = read(run_dir)
    order = order or _started()
    if before.get("order") and list(before["order"]) > order:
        return None
    changed = before.get("role") != role
    now = time.time()
    entry = {"role": role, "since": now if changed else before.get("since", now),
             "transitions": int(before.get("transitions", 0)) + (1 if changed and before.get("role") else 0),
             "peer": peer or before.get("peer"), "order": order}
    _write(run_dir, entry)
    return entry


def put_routes_back(conntrackd_conf: str) -> list[str]:
    """The routes through the links of the virtual addresses, as apply adds them: the kernel
    dropped them if this hub just let go of the addresses (its last ones on those links)."""
    from ..render.ha import kept_routes

    try:  # keepalived.conf sits beside conntrackd.conf (render.ha.HAPaths)
        text = Path(conntrackd_conf).with_name("keepalived.conf").read_text()
    except OSError as error:
        return [f"routes: {error}"]
    failed = []
    for route in kept_routes(text):
        proc = subprocess.run(["ip", "route", "replace", *route], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            failed.append(f"ip route replace {' '.join(route)}: {proc.stderr.strip() or 'failed'}")
    return failed


def notify(role: str, run_dir: str, conntrackd_conf: str, peer: str | None) -> list[str]:
    """keepalived says this hub is now `role`. Returns what went wrong (nothing stops keepalived)."""
    if not os.path.isdir(run_dir):  # the hub is being taken down (lab down removed it): leave nothing behind
        return [f"{role}: no run directory {run_dir}; nothing recorded"]
    with open(Path(run_dir, "notify.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        failed = [] if role == "fault" else put_routes_back(conntrackd_conf)  # a fault: its links are down
        if record(run_dir, role, peer) is None:
            return failed + [f"{role}: a later transition is already recorded; nothing done"]
        for args in CONNTRACKD[role]:
            proc = subprocess.run(["conntrackd", "-C", conntrackd_conf, *args], capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                failed.append(f"conntrackd {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip() or 'failed'}")
        return failed


def log(role: str, problems: list[str], log_file: str | None) -> None:
    """What the hook did, where an admin finds it: keepalived throws a hook's output away. A
    namespace's hub (no syslog there) appends to `log_file`; the box logs to syslog (the journal)."""
    words = "; ".join(problems) if problems else \
        "conntrackd " + ", ".join(" ".join(args) for args in CONNTRACKD[role]) + ": ok"
    line = f"{role}: {words}"
    if log_file:
        with contextlib.suppress(OSError):  # the hub's run directory may be going away (lab down)
            if os.path.isdir(os.path.dirname(log_file)):
                with open(log_file, "a") as out:
                    out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {line}\n")
        return
    import syslog

    syslog.openlog("pnsbox-ha-notify", 0, syslog.LOG_DAEMON)
    syslog.syslog(syslog.LOG_WARNING if problems else syslog.LOG_NOTICE, line)

"""The lab's own pnsboxd: started by `pnsbox lab up` for a site with tunnelled OPDs, because an
edge enrols only with a hub that runs the site (its token comes from pnsboxd, and pnsboxd lets
its peer in). It manages the lab's hub namespace, runs detached, and `lab down` stops it.

Its pid, log and (by default) state directory and socket live in the lab's run directory,
/run/pnsbox-lab/LAB (under $PNSBOX_LAB_RUN when set)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..control.client import ControlClient
from ..errors import LabError
from .topology import HUB, netns_name

ROOT = Path(__file__).resolve().parents[2]


def run_dir(lab: str) -> Path:
    return Path(os.environ.get("PNSBOX_LAB_RUN", "/run/pnsbox-lab")) / lab


def _answers(control_socket: str) -> bool:
    if not os.path.exists(control_socket):
        return False
    try:
        ControlClient(control_socket, timeout=5).request("GET", "/status")
        return True
    except Exception:  # noqa: BLE001 -- any failure means: nobody answers there
        return False


def start(lab: str, state_dir: str, control_socket: str, peer: str | None = None) -> str | None:
    """Start pnsboxd for LAB's hub (an HA pair's hub PEER, as `pnsboxd --peer PEER`) unless one
    answers on CONTROL_SOCKET; returns a note."""
    if _answers(control_socket):
        return None
    root = run_dir(lab)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    suffix = f"-{peer}" if peer else ""
    log = open(root / f"pnsboxd{suffix}.log", "ab")  # noqa: SIM115 -- the detached process keeps it
    proc = subprocess.Popen([sys.executable, "-m", "pnsbox.daemon.main", "--state-dir", state_dir,
                             "--socket", control_socket, "--netns", netns_name(lab, peer or HUB),
                             "--metrics-listen", "off", *(["--peer", peer] if peer else [])],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    (root / f"pnsboxd{suffix}.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 30
    while not _answers(control_socket):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise LabError(f"pnsboxd for lab {lab} did not start (see {root / f'pnsboxd{suffix}.log'})")
        time.sleep(0.1)
    return f"pnsboxd manages the lab's hub: state {state_dir}, socket {control_socket}, pid {proc.pid}"


def stop(lab: str) -> None:
    """Stop the pnsboxd(s) `start` started for LAB (their pid files say which), and forget the run directory."""
    root = run_dir(lab)
    for pid_file in sorted(root.glob("pnsboxd*.pid")) if root.is_dir() else []:
        _stop(pid_file)
    if root.is_dir():
        shutil.rmtree(root, ignore_errors=True)


def _stop(pid_file: Path) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError):
        pid = int(pid_file.read_text())
        if is_pnsboxd(pid):
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not is_pnsboxd(pid):
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)


def is_pnsboxd(pid: int) -> bool:
    """The pid still names the pnsboxd we started (not a process that took its number since)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
        with open(f"/proc/{pid}/stat") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except OSError:
        return False
    return b"pnsbox.daemon.main" in argv

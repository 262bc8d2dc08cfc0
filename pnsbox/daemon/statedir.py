"""One state directory, one owner, one namespace.

pnsboxd holds an exclusive lock on its state directory for as long as it runs, and writes
who it is (pid, control socket) beside the lock; an in-process apply (the CLI with no daemon
socket) takes the same lock for its few seconds, so it cannot add versions to a running
daemon's history, clear its pending confirm or replace its boot ruleset. The directory also
remembers which network namespace it governs, and refuses to govern another.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from ..apply.owned import write_atomic

LOCK, OWNER, NAMESPACE = "owner.lock", "owner.json", "namespace.json"


class StateDirBusy(Exception):
    """Another process (pnsboxd, or another apply) owns the state directory."""


class StateDirMismatch(Exception):
    """The state directory governs another network namespace."""


def _namespace_label(netns: str | None) -> str:
    return netns or "the host's own"


def check_namespace(state_dir: Path, netns: str | None) -> None:
    """Remember NETNS at first use; refuse any other afterwards."""
    path = state_dir / NAMESPACE
    try:
        kept = json.loads(path.read_text()).get("netns")
    except FileNotFoundError:
        if any(state_dir.glob("history/*.json")):  # a directory from before this file: it governs what it has
            return
        write_atomic(path, json.dumps({"netns": netns}))
        return
    if kept != netns:
        raise StateDirMismatch(f"{state_dir} governs the namespace {_namespace_label(kept)}, not "
                               f"{_namespace_label(netns)}: give that namespace its own --state-dir")


class StateDirLock:
    """Held for the life of the process that changes the state directory."""

    def __init__(self, state_dir: str | Path):
        self.state_dir = Path(state_dir)
        self._handle = None

    def acquire(self, what: str, socket: str | None = None) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.state_dir / LOCK, "a")  # noqa: SIM115 - kept open: the lock lives with it
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StateDirBusy(self._busy_message()) from None
        self._handle = handle
        write_atomic(self.state_dir / OWNER, json.dumps({"pid": os.getpid(), "what": what, "socket": socket}))

    def _busy_message(self) -> str:
        try:
            owner = json.loads((self.state_dir / OWNER).read_text())
        except (FileNotFoundError, ValueError):
            owner = {}
        if owner.get("socket"):
            return (f"{self.state_dir} belongs to pnsboxd (pid {owner.get('pid')}), which listens on "
                    f"{owner['socket']}: go through it with --socket {owner['socket']}")
        return f"{self.state_dir} is in use by {owner.get('what', 'another process')} (pid {owner.get('pid', '?')})"

    def release(self) -> None:
        if self._handle is not None:
            (self.state_dir / OWNER).unlink(missing_ok=True)
            self._handle.close()  # closing drops the lock
            self._handle = None

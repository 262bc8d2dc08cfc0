"""What pnsbox added to a namespace, so a later apply can remove exactly that and nothing else."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

DEFAULT_STATE_DIR = "/var/lib/pnsbox"


def write_atomic(path: Path, data: str) -> None:
    """Write, fsync, rename: a crash leaves the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def locked(state_dir: str | Path, name: str = "apply.lock"):
    """One writer at a time (an admin's apply and the daemon's schedule switch, say)."""
    path = Path(state_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


EMPTY = {"addresses": [], "links": [], "ruleset": None, "redirects": [], "slots": {}, "facts": None,
         "labels": {}}


class OwnedRecord:
    """addresses/links/redirects pnsbox added, the ruleset it loaded, OPD class slots, probed facts."""

    def __init__(self, state_dir: str | Path, netns: str | None):
        self.path = Path(state_dir) / "owned" / f"{netns or 'host'}.json"

    def read(self) -> dict:
        try:
            return {**EMPTY, **json.loads(self.path.read_text())}
        except FileNotFoundError:
            return dict(EMPTY)

    def write(self, **fields) -> None:
        record = {**self.read(), **fields}
        write_atomic(self.path, json.dumps(record, indent=1, sort_keys=True))

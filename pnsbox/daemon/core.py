"""The daemon's state machine, without any I/O loop: apply, confirm, tick.

Files under the state directory (crash-safe writes):
  confirmed.json  {"version": N}  the last version an admin confirmed (or applied without --confirm)
  pending.json    {"version": N, "deadline": unix time, "rollback_to": M}  a change awaiting confirm
A restart reads both, so a pending deadline survives a crash of the daemon.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from ..apply import nft
from ..apply.owned import OwnedRecord, write_atomic
from ..apply.pipeline import apply
from ..load import load_site
from ..store import AuditLog, History, site_files
from ..validate import build

DAEMON = "pnsboxd"


class Daemon:
    def __init__(self, state_dir: str, netns: str | None = None):
        self.state_dir = Path(state_dir)
        self.netns = netns
        self.history = History(state_dir)
        self.audit = AuditLog(state_dir)
        self.lock = threading.RLock()
        self.drift_repairs = 0
        self.config = None  # the running version's Config, for the time-of-day plan switch
        self.plans_checked_at = None  # the UTC minute the plans were last put in force

    # --- persisted state -------------------------------------------------------------

    def _read(self, name: str) -> dict | None:
        try:
            return json.loads((self.state_dir / name).read_text())
        except FileNotFoundError:
            return None

    def _write(self, name: str, data: dict | None) -> None:
        path = self.state_dir / name
        if data is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, json.dumps(data))

    def confirmed(self) -> int | None:
        return (self._read("confirmed.json") or {}).get("version")

    def pending(self) -> dict | None:
        return self._read("pending.json")

    # --- operations ------------------------------------------------------------------

    def _apply_version(self, version_id: int, force: bool = False):
        version = self.history.get(version_id)
        with tempfile.TemporaryDirectory(prefix="pnsboxd-") as scratch:
            config = build(load_site(version.write_site(Path(scratch))))
        result = apply(config, self.netns, str(self.state_dir), force=force)
        self.config = config
        return result

    def start(self) -> str:
        """Run what should run: a pending change still in its window, else the confirmed version."""
        with self.lock:
            pending = self.pending()
            if pending and pending["deadline"] > time.time():
                self._apply_version(pending["version"])
                return f"resumed version {pending['version']}, awaiting confirm"
            if pending:
                return self._revert(pending, "confirm deadline passed while the daemon was down")
            confirmed = self.confirmed()
            if confirmed:
                self._apply_version(confirmed)
                return f"running confirmed version {confirmed}"
            return "no confirmed version yet"

    def apply_site(self, site_dir: str, author: str, origin: str, message: str,
                   confirm_seconds: float | None = None) -> dict:
        with self.lock:
            config = build(load_site(site_dir))  # a bad config never reaches the kernel
            result = apply(config, self.netns, str(self.state_dir))
            self.config = config
            digest = result.ruleset.digest if result.ruleset else None
            version = self.history.record(site_files(site_dir), author, message, digest)
            if confirm_seconds:
                rollback_to = (self.pending() or {}).get("rollback_to") or self.confirmed()
                self._write("pending.json", {"version": version.id, "deadline": time.time() + confirm_seconds,
                                             "rollback_to": rollback_to})
                detail = f"version {version.id}: {message}; confirm within {confirm_seconds:g} s"
            else:
                self._write("pending.json", None)
                self._write("confirmed.json", {"version": version.id})
                detail = f"version {version.id}: {message}"
            self.audit.append("apply", author, origin, detail)
            return {"version": version.id, "changes": [s.text.splitlines()[0] for s in result.steps],
                    "pending": self.pending()}

    def confirm(self, author: str, origin: str) -> dict:
        with self.lock:
            pending = self.pending()
            if not pending:
                raise LookupError("nothing is waiting for a confirm")
            self._write("confirmed.json", {"version": pending["version"]})
            self._write("pending.json", None)
            self.audit.append("confirm", author, origin, f"version {pending['version']}")
            return {"confirmed": pending["version"]}

    def _revert(self, pending: dict, why: str) -> str:
        target = pending.get("rollback_to")
        if target:
            self._apply_version(target, force=True)
        self._write("pending.json", None)
        self.audit.append("rollback", DAEMON, "local", f"to version {target}: {why}")
        return f"rolled back to version {target}: {why}"

    def tick(self, now: datetime | None = None) -> str | None:
        """One pass of the loop: a passed confirm deadline, drift, then (once a minute) the
        time-of-day bandwidth plans, which only touch the HTB classes whose rates change."""
        with self.lock:
            event = self._deadline_and_drift()
            now = now or datetime.now(UTC)
            minute = now.replace(second=0, microsecond=0)
            if self.config is not None and minute != self.plans_checked_at:
                self.plans_checked_at = minute
                switched = apply(self.config, self.netns, str(self.state_dir), now=now)
                if switched.steps:
                    self.audit.append("plans", DAEMON, "local",
                                      f"time-of-day plans at {now:%H:%M} UTC: {len(switched.steps)} class change(s)")
                    event = event or f"bandwidth plans switched ({len(switched.steps)} class changes)"
            return event

    def _deadline_and_drift(self) -> str | None:
        with self.lock:
            pending = self.pending()
            if pending and time.time() >= pending["deadline"]:
                return self._revert(pending, f"version {pending['version']} was not confirmed in time")
            expected = OwnedRecord(self.state_dir, self.netns).read().get("digest")
            running_version = pending["version"] if pending else self.confirmed()
            if expected and running_version and nft.running_digest(self.netns) != expected:
                self._apply_version(running_version, force=True)
                self.drift_repairs += 1
                self.audit.append("drift-repair", DAEMON, "local",
                                  f"the pnsbox table differed from version {running_version}; restored")
                return "drift repaired"
            return None

    def status(self) -> dict:
        return {"confirmed": self.confirmed(), "pending": self.pending(), "drift_repairs": self.drift_repairs}

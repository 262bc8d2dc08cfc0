"""Config history and the audit trail, under the state directory. Writes are crash-safe.

history/NNNNNN.json   one version per apply: id, parent, author, time, message, the site's
                      files as text (so any version can be re-applied), the ruleset digest
audit.log             one JSON line per event, each carrying the hash of the one before
audit.head            the hash of the last line, so a cut-off tail is noticed too
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .apply.owned import locked, write_atomic
from .sitefiles import read_site
from .wording import structured

GENESIS = "0" * 64


def site_files(directory: str | Path) -> dict[str, str]:
    """The files that make a site, by path relative to it: what a version keeps (read by
    sitefiles.read_site: a file too large or not UTF-8 is a ConfigError with its file and line)."""
    return read_site(directory)


@dataclass(frozen=True)
class Version:
    id: int
    parent: int | None
    author: str
    time: float
    message: str
    files: dict[str, str]
    digest: str | None
    said: dict | None = None  # the message's code and arguments when pnsboxd wrote it (pnsbox.wording)

    def write_site(self, directory: Path) -> Path:
        """Lay the version's files out as a site directory (to load or re-apply it)."""
        for name, text in self.files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text(text)
        return directory


class History:
    def __init__(self, state_dir: str | Path):
        self.dir = Path(state_dir) / "history"

    def versions(self) -> list[Version]:
        return [self._read(p) for p in sorted(self.dir.glob("[0-9]*.json"))] if self.dir.is_dir() else []

    def get(self, version_id: int) -> Version:
        path = self.dir / f"{version_id:06d}.json"
        if not path.is_file():
            raise KeyError(f"no version {version_id} in {self.dir}")
        return self._read(path)

    def latest(self) -> Version | None:
        ids = self.ids()  # the newest alone: every version of a 1,000-OPD site is 0.6 MB of JSON
        return self.get(ids[-1]) if ids else None

    def ids(self) -> list[int]:
        """The version numbers, oldest first (from the file names: nothing is read)."""
        return sorted(int(p.stem) for p in self.dir.glob("[0-9]*.json")) if self.dir.is_dir() else []

    def adopt(self, record: dict) -> Version:
        """A version made on the HA peer, kept as it was made there (number, parent, author, time,
        message, files, digest); it must be the next number here."""
        version = Version(**{f: record.get(f) for f in Version.__dataclass_fields__})
        with locked(self.dir.parent, "history.lock"):
            ids = self.ids()
            expected = ids[-1] + 1 if ids else 1
            if version.id != expected:
                raise ValueError(f"version {version.id} cannot follow version {expected - 1}")
            write_atomic(self.dir / f"{version.id:06d}.json", _as_json(version))
        return version

    def set_aside(self, first: int, label: str) -> Path:
        """Move versions FIRST.. out of the history, into history/LABEL/ (kept, never deleted)."""
        with locked(self.dir.parent, "history.lock"):
            aside = self.dir / label
            aside.mkdir(parents=True, exist_ok=True)
            for number in self.ids():
                if number >= first:
                    path = self.dir / f"{number:06d}.json"
                    os.replace(path, aside / path.name)
            return aside

    def record(self, files: dict[str, str], author: str, message: str, digest: str | None,
               parent: int | None = None) -> Version:
        """A new version; its parent is the version it replaced (default: the newest)."""
        with locked(self.dir.parent, "history.lock"):  # two writers never take the same id
            return self._record(files, author, message, digest, parent)

    def _record(self, files, author, message, digest, parent) -> Version:
        ids = self.ids()  # the newest number only: its file need not be read
        newest = ids[-1] if ids else None
        version = Version(newest + 1 if newest else 1, parent or newest, author,
                          time.time(), str(message), files, digest, structured(message))
        write_atomic(self.dir / f"{version.id:06d}.json", _as_json(version))
        return version

    @staticmethod
    def _read(path: Path) -> Version:
        record = json.loads(path.read_text())
        if record.get("said") is None:
            record.pop("said", None)  # a version written before messages carried codes, or a person's words
        return Version(**record)


def _as_json(version: Version) -> str:
    """A version's file; `said` only when its message has a code (files stay as they were otherwise)."""
    return json.dumps({k: v for k, v in version.__dict__.items() if k != "said" or v}, indent=1)


def diff(old: Version, new: Version) -> str:
    """A unified diff of two versions' files."""
    out = []
    for name in sorted(set(old.files) | set(new.files)):
        out += difflib.unified_diff(old.files.get(name, "").splitlines(), new.files.get(name, "").splitlines(),
                                    f"v{old.id}/{name}", f"v{new.id}/{name}", lineterm="")
    return "\n".join(out)


class AuditLog:
    """Append-only and hash-chained: editing, deleting, reordering or cutting off entries
    breaks the chain, and `verify` says where. On an HA hub every entry also names the hub
    that wrote it (`hub`), so two hubs' trails read side by side say who did what."""

    def __init__(self, state_dir: str | Path, hub: str | None = None):
        self.path = Path(state_dir) / "audit.log"
        self.head = Path(state_dir) / "audit.head"
        self.hub = hub

    @staticmethod
    def _hash(entry: dict) -> str:
        body = {k: v for k, v in entry.items() if k != "hash"}
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def entries(self) -> list[dict]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def append(self, action: str, actor: str, origin: str, detail: str, said: dict | None = None) -> dict:
        """DETAIL in English; SAID its code and arguments (pnsbox.wording; taken from DETAIL when
        it is said), kept beside it so a reader of another language gets it in theirs."""
        with locked(self.path.parent, "audit.lock"):  # the chain never forks
            return self._append(action, actor, origin, str(detail), said or structured(detail))

    def _last(self) -> dict | None:
        """The newest entry, read from the end: the trail gains entries for years, and an apply
        needs only the last one."""
        try:
            with open(self.path, "rb") as handle:
                size, chunk = handle.seek(0, os.SEEK_END), 4096
                while True:
                    start = max(0, size - chunk)
                    handle.seek(start)
                    lines = [line for line in handle.read(size - start).splitlines() if line.strip()]
                    if len(lines) > 1 or start == 0:  # else the one line may be cut at `start`
                        return json.loads(lines[-1]) if lines else None
                    chunk *= 4
        except FileNotFoundError:
            return None

    def _append(self, action, actor, origin, detail, said) -> dict:
        previous = self._last()
        entry = {"seq": previous["seq"] + 1 if previous else 1, "time": time.time(), "actor": actor,
                 "from": origin, "action": action, "detail": detail,
                 "prev": previous["hash"] if previous else GENESIS}
        if self.hub:
            entry["hub"] = self.hub
        if said:
            entry["said"] = said
        entry["hash"] = self._hash(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        write_atomic(self.head, entry["hash"] + "\n")
        return entry

    def verify(self) -> list[str]:
        """Problems found, first to last; an empty list means the trail is intact."""
        problems = []
        previous_hash, expected_seq = GENESIS, 1
        try:
            entries = self.entries()
        except json.JSONDecodeError as exc:
            return [f"{self.path}: unreadable line ({exc})"]
        for entry in entries:
            seq = entry.get("seq")
            if seq != expected_seq:
                problems.append(f"entry {seq}: expected entry {expected_seq} here (deleted or reordered)")
            if entry.get("prev") != previous_hash:
                problems.append(f"entry {seq}: does not follow the entry before it (deleted or reordered)")
            if entry.get("hash") != self._hash(entry):
                problems.append(f"entry {seq}: its content was changed after it was written")
            previous_hash, expected_seq = entry.get("hash"), (seq or expected_seq) + 1
        head = self.head.read_text().strip() if self.head.is_file() else GENESIS
        if head != previous_hash:
            problems.append("the log's last entries are missing (it ends before the recorded head)")
        return problems

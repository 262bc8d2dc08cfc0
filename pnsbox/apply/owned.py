"""What pnsbox added to a namespace, so a later apply can remove exactly that and nothing else."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
from dataclasses import dataclass, field, fields
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


@dataclass(frozen=True)
class Owned:
    """What pnsbox added to a namespace and what its last apply left, as owned/NS.json keeps it.
    Records of earlier versions read too: fields added since have defaults."""

    addresses: tuple[tuple[str, str], ...] = ()  # (device, cidr) pnsbox added
    links: tuple[str, ...] = ()  # VLAN, IFB and WireGuard devices pnsbox made
    ruleset: str | None = None  # the text pnsbox last loaded (for a readable diff, the boot unit)
    redirects: tuple = ()  # [device, ifb, pnsbox made its clsact]; older records: a device name
    slots: dict[str, int] = field(default_factory=dict)  # OPD -> its HTB class slot
    facts: dict | None = None  # the capability probe's answer and the kernel release it was made on
    labels: dict[str, str] = field(default_factory=dict)  # class id -> what `show` calls it
    structure: str | None = None  # fingerprint of all but rates (None: observe everything next time)
    layout: str | None = None  # fingerprint of all but rates and policies (links, addresses, classes)
    digest: str | None = None  # of the ruleset loaded
    trees: dict = field(default_factory=dict)  # device -> class id -> [parent, rate, ceil, prio]
    until: float | None = None  # when a schedule next opens or closes (unix time)
    wireguard: str | None = None  # the hub's WireGuard interface
    code: str | None = None  # codeprint.code_fingerprint() of the pnsbox that rendered it

    def facts_on(self, release: str, needed: tuple[str, ...]) -> dict | None:
        """The recorded facts when probed on this kernel release with every field `needed`
        (a record from before a field was probed has to be probed again)."""
        found = self.facts or {}
        if found.get("kernel") != release or any(key not in found for key in needed):
            return None
        return {key: found[key] for key in needed}


_FIELDS = {f.name for f in fields(Owned)}


class OwnedRecord:
    """addresses/links/redirects pnsbox added, the ruleset it loaded, OPD class slots, probed facts.

    The ruleset's text (1.4 MB at 1,000 OPDs) lives beside the record, in a file named by its
    hash that the record names (`ruleset_file`): the record stays small, so the many reads and
    the rewrites of a rate change do not decode and encode the whole ruleset. The text is
    written first and the record's rename commits it; texts no record names are removed then.
    Records that still hold the text inline read as before."""

    def __init__(self, state_dir: str | Path, netns: str | None):
        self.path = Path(state_dir) / "owned" / f"{netns or 'host'}.json"
        self._seen: tuple[tuple, dict] | None = None  # (the file's identity, its record) as last read here

    def _raw(self) -> dict:
        """The record as stored; read once per change of the file (an apply reads, then writes)."""
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
                if self._seen is not None and self._seen[0] == identity:
                    return dict(self._seen[1])
                record = json.loads(handle.read())
        except FileNotFoundError:
            return {}
        self._seen = (identity, record)
        return dict(record)

    def read(self) -> Owned:
        raw = self._raw()
        known = {key: value for key, value in raw.items() if key in _FIELDS}
        if isinstance(raw.get("ruleset_file"), str):
            known["ruleset"] = self._ruleset_text(raw["ruleset_file"])
        for key in ("addresses", "redirects"):
            if key in known:
                known[key] = tuple(tuple(item) if isinstance(item, list) else item for item in known[key] or ())
        if "links" in known:
            known["links"] = tuple(known["links"] or ())
        return Owned(**{key: value for key, value in known.items() if value is not None or key in (
            "ruleset", "facts", "structure", "layout", "digest", "until", "wireguard")})

    def _ruleset_text(self, name: str) -> str | None:
        if not (name.startswith(self.path.stem + ".ruleset-") and name.endswith(".nft") and "/" not in name):
            return None
        try:
            return (self.path.parent / name).read_text()
        except FileNotFoundError:
            return None

    def write(self, **changes) -> None:
        unknown = set(changes) - _FIELDS
        if unknown:
            raise ValueError(f"owned record: no field {', '.join(sorted(unknown))}")
        record = {**self._raw(), **changes}
        text = record.pop("ruleset", None) if "ruleset" in changes else None
        if "ruleset" in changes:
            record["ruleset_file"] = None
            if text is not None:
                name = f"{self.path.stem}.ruleset-{hashlib.sha256(text.encode()).hexdigest()[:16]}.nft"
                if self._ruleset_text(name) != text:
                    write_atomic(self.path.parent / name, text)
                record["ruleset_file"] = name
        # Compact: with an indent, json encodes in Python (30 ms for a 1,000-OPD record, 7 ms without).
        write_atomic(self.path, json.dumps(record, separators=(",", ":"), sort_keys=True))
        if "ruleset" in changes:
            for old in self.path.parent.glob(f"{glob.escape(self.path.stem)}.ruleset-*.nft"):
                if old.name != record["ruleset_file"]:
                    old.unlink(missing_ok=True)


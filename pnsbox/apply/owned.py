"""What pnsbox added to a namespace, so a later apply can remove exactly that and nothing else."""

from __future__ import annotations

import contextlib
import fcntl
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
    """addresses/links/redirects pnsbox added, the ruleset it loaded, OPD class slots, probed facts."""

    def __init__(self, state_dir: str | Path, netns: str | None):
        self.path = Path(state_dir) / "owned" / f"{netns or 'host'}.json"

    def _raw(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    def read(self) -> Owned:
        raw = self._raw()
        known = {key: value for key, value in raw.items() if key in _FIELDS}
        for key in ("addresses", "redirects"):
            if key in known:
                known[key] = tuple(tuple(item) if isinstance(item, list) else item for item in known[key] or ())
        if "links" in known:
            known["links"] = tuple(known["links"] or ())
        return Owned(**{key: value for key, value in known.items() if value is not None or key in (
            "ruleset", "facts", "structure", "layout", "digest", "until", "wireguard")})

    def write(self, **changes) -> None:
        unknown = set(changes) - _FIELDS
        if unknown:
            raise ValueError(f"owned record: no field {', '.join(sorted(unknown))}")
        record = {**self._raw(), **changes}
        write_atomic(self.path, json.dumps(record, indent=1, sort_keys=True))

"""Does the box already run exactly these files? Answered from the state directory and the
table's digest, without parsing, validating or rendering: what keeps an unchanged apply of
1,000 OPDs under 0.1 s, in the CLI (which then imports none of the model) and in pnsboxd.

Yes only when all hold, else the caller takes the full path (a cache is only a cache):
- the state directory governs this namespace, no apply was cut off (applying.json), and a
  pending change is still in its window (the CLI asks under the directory's lock);
- the running version's files are these files, and that version recorded its ruleset digest;
- the last apply finished (its structure is recorded) and loaded that digest, and the
  kernel's table still carries it (read over nfnetlink, about a millisecond);
- no schedule has opened or closed since (the recorded `until`), on the same kernel release,
  by the same pnsbox code and shipped rules (an upgrade renders anew: codeprint);
- an HA hub's keepalived and conntrackd run (a scan of /proc, a few milliseconds) on files
  nobody changed since that apply (their times against the owned record's).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from .apply.netns import netns_exists
from .apply.owned import OwnedRecord
from .codeprint import code_fingerprint
from .observe import nfnl
from .state import StateError, StateFiles

_DIGEST = re.compile(r"pnsbox ([0-9a-f]{16})")  # the table comment render.nft writes


def _read(path: Path) -> dict | None:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def running_version(state_dir: str | Path, now: float | None = None) -> int | None:
    """The version the kernel should hold, if nothing is in the middle of changing it."""
    records = StateFiles(state_dir)
    try:
        if records.journal() is not None:
            return None
        confirmed, pending = records.confirmed(), records.pending()
    except StateError:
        return None  # the full path reads it and says what is wrong
    if pending and pending.version != confirmed:
        if not isinstance(pending.deadline, (int, float)) or pending.deadline <= (now or time.time()):
            return None  # its deadline passed: a rollback is due
        return pending.version
    return confirmed


def already_runs(files: dict[str, str], state_dir: str | Path, netns: str | None,
                 now: float | None = None) -> int | None:
    """The running version when the box runs exactly `files` as it would after applying them."""
    now = now or time.time()
    version_id = running_version(state_dir, now)
    if not isinstance(version_id, int) or not netns_exists(netns):
        return None
    governs = _read(Path(state_dir) / "namespace.json")
    if governs is not None and governs.get("netns") != netns:
        return None  # the full path refuses: this directory governs another namespace
    version = _read(Path(state_dir) / "history" / f"{version_id:06d}.json") or {}
    digest = version.get("digest")
    if not digest or version.get("files") != files:
        return None
    record = OwnedRecord(state_dir, netns)
    owned = record.read()
    until = owned.until
    if not owned.structure or owned.digest != digest \
            or (until is not None and not (isinstance(until, (int, float)) and now < until)) \
            or (owned.facts or {}).get("kernel") != os.uname().release or owned.code != code_fingerprint():
        return None
    try:
        comment = nfnl.inet_table_comments(netns).get("pnsbox")
    except OSError:
        return None
    match = _DIGEST.fullmatch(comment or "")
    return version_id if match and match.group(1) == digest and _ha_runs(netns, record.path) \
        else None


def _ha_runs(netns: str | None, record: Path) -> bool:
    """No HA config here, or its keepalived and conntrackd both run (else apply starts them) on
    the files the last apply wrote (a hand edit is undone by the full path)."""
    from .observe.ha import edited_since, ha_paths, process_of

    paths = ha_paths(netns, "")
    if not os.path.exists(paths.keepalived_conf):
        return True
    return process_of("keepalived", paths.keepalived_conf) is not None and \
        process_of("conntrackd", paths.conntrackd_conf) is not None and not edited_since(paths, record)

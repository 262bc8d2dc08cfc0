"""A fingerprint of the pnsbox code and shipped rules on this machine: which program rendered
what the box runs. An apply records it; an unchanged apply after an upgrade (a new renderer, a
new catalog) then takes the full path and loads what the new code renders, instead of saying
there is nothing to change. Names, sizes and modification times only: about a millisecond."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# the shipped rules (catalog, domain lists): beside a checkout, or under the installed prefix
_RULES = (_PACKAGE.parent / "rules", Path(sys.prefix) / "share" / "pnsbox" / "rules")
_SUFFIXES = (".py", ".so", ".yaml", ".txt")


def _entries(top: Path):
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(_SUFFIXES):
                path = os.path.join(root, name)
                try:
                    stat = os.stat(path)
                except OSError:  # removed while we walk: an upgrade in progress, count it as a change
                    yield f"{path} gone"
                    continue
                yield f"{path} {stat.st_size} {stat.st_mtime_ns}"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for top in (_PACKAGE, *_RULES):
        for entry in _entries(top):
            digest.update(entry.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()[:16]


# Taken once, when this process loads pnsbox: a pnsboxd started before an upgrade still runs the
# old code, and records that, so the upgraded one it is restarted as renders anew.
_LOADED = _fingerprint()


def code_fingerprint() -> str:
    return _LOADED

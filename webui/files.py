"""Crash-safe writes of the web UI's own state files (write, fsync, rename), owned like their directory
so that root running `pnsbox user add` leaves files the unprivileged web user can still read."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(scratch, 0o600)
        directory = path.parent.stat()
        with contextlib.suppress(PermissionError):
            os.chown(scratch, directory.st_uid, directory.st_gid)
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)
        raise

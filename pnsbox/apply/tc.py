"""Run `tc -batch` (the HTB trees are read back in observe.tc)."""

from __future__ import annotations

import re

from .netns import KernelError, run


def batch(lines: list[str], netns: str | None, owners: list[str] | None = None) -> None:
    """One `tc -batch`: a rate change of one OPD is one line, done in place. `owners` names,
    line by line, the step each line belongs to, so an error says which one failed."""
    if not lines:
        return
    proc = run(["tc", "-batch", "-"], netns, "\n".join(lines) + "\n", check=False)
    if proc.returncode != 0:
        failed = re.search(r"Command failed -:(\d+)", proc.stderr)
        what = owners[int(failed.group(1)) - 1] if failed and owners else "shaping"
        detail = [line for line in proc.stderr.splitlines() if "Command failed" not in line]
        raise KernelError(f"{what}: tc refused: {detail[-1] if detail else proc.stderr.strip()}")

"""Load, check and read back the `inet pnsbox` table: always the whole table, in one transaction."""

from __future__ import annotations

import re

from ..render.nft import TABLE, Ruleset
from .netns import KernelError, run

# Creating then deleting the table first makes the load one atomic replace that works
# whether or not the table exists; no other table is touched.
PREAMBLE = f"table {TABLE}\ndelete table {TABLE}\n"
_ERROR_LINE = re.compile(r"^(?:/dev/stdin|-):(\d+):[\d-]+: (Error: .*)$")


def _explain(stderr: str, ruleset: Ruleset) -> str:
    """nft's errors, each mapped from its line back to the policy or OPD it came from."""
    offset = PREAMBLE.count("\n")
    out = []
    for line in stderr.splitlines():
        match = _ERROR_LINE.match(line)
        if match:
            ruleset_line = int(match.group(1)) - offset
            origin = ruleset.origins.get(ruleset_line, "the generated ruleset")
            out.append(f"{origin}: nft {match.group(2)} (ruleset line {ruleset_line})")
    return "\n".join(out) or stderr.strip()


def check(ruleset: Ruleset, netns: str | None) -> None:
    """`nft -c`: the kernel validates the whole transaction without committing it."""
    proc = run(["nft", "-c", "-f", "-"], netns, PREAMBLE + ruleset.text, check=False)
    if proc.returncode != 0:
        raise KernelError(_explain(proc.stderr, ruleset))


def load(ruleset: Ruleset, netns: str | None) -> None:
    proc = run(["nft", "-f", "-"], netns, PREAMBLE + ruleset.text, check=False)
    if proc.returncode != 0:
        raise KernelError(_explain(proc.stderr, ruleset))


def delete(netns: str | None) -> None:
    run(["nft", "delete", "table", *TABLE.split()], netns, check=False)

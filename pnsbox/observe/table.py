"""Which ruleset the kernel runs: the digest in the `inet pnsbox` table's comment."""

from __future__ import annotations

import re

from ..apply.netns import KernelError
from ..render.nft import TABLE
from . import nfnl

_DIGEST = re.compile(r"pnsbox ([0-9a-f]{16})")


def running_digest(netns: str | None) -> str | None:
    """The digest of the ruleset in the kernel, None when there is no pnsbox table,
    "unknown" when the table was not loaded by pnsbox."""
    try:
        comments = nfnl.inet_table_comments(netns)
    except OSError as exc:
        raise KernelError(f"cannot read the nftables tables{f' in {netns}' if netns else ''}: {exc}") from exc
    if TABLE.split()[1] not in comments:
        return None
    match = _DIGEST.fullmatch(comments[TABLE.split()[1]] or "")
    return match.group(1) if match else "unknown"

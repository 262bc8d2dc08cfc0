"""What the kernel can do, probed once by the apply layer and handed to render as plain data."""

from __future__ import annotations

from dataclasses import dataclass

# Best first: what `site.queue: auto` picks from what the kernel has.
LEAF_QDISCS = ("fq_codel", "cake", "sfq", "pfifo")


@dataclass(frozen=True)
class Facts:
    leaf_qdiscs: tuple[str, ...]  # leaf queues this kernel offers, best first
    nft_queue: bool = False  # nft has the `queue` statement (else the iptables-nft NFQUEUE target)

    def leaf_qdisc(self, requested: str) -> str:
        """The leaf queue for `site.queue`; a named one the kernel lacks is an error."""
        if requested == "auto":
            return self.leaf_qdiscs[0] if self.leaf_qdiscs else "pfifo"
        if requested not in self.leaf_qdiscs:
            raise FactsError(f"site.queue: this kernel has no {requested} qdisc "
                             f"(it has {', '.join(self.leaf_qdiscs) or 'none'}); use auto")
        return requested


class FactsError(Exception):
    pass

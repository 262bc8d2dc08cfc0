"""What the kernel can do, probed once (observe.facts) and handed to render as plain data."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import FactsError

# Best first: what `site.queue: auto` picks from what the kernel has.
LEAF_QDISCS = ("fq_codel", "cake", "sfq", "pfifo")


@dataclass(frozen=True)
class Facts:
    leaf_qdiscs: tuple[str, ...]  # leaf queues this kernel offers, best first
    nft_queue: bool = False  # nft has the `queue` statement (else the iptables-nft NFQUEUE target)
    vlan: bool = True  # the kernel makes 802.1Q VLAN devices
    wireguard: str | None = "kernel"  # "kernel" (the module), "wireguard-go" (userspace), or None
    ftp_helper: bool = True  # the kernel's FTP conntrack helper (nf_conntrack_ftp) exists

    def leaf_qdisc(self, requested: str) -> str:
        """The leaf queue for `site.queue`; a named one the kernel lacks is an error."""
        if requested == "auto":
            return self.leaf_qdiscs[0] if self.leaf_qdiscs else "pfifo"
        if requested not in self.leaf_qdiscs:
            raise FactsError(f"site.queue: this kernel has no {requested} qdisc "
                             f"(it has {', '.join(self.leaf_qdiscs) or 'none'}); use auto")
        return requested

    def as_dict(self) -> dict:
        return {"leaf_qdiscs": list(self.leaf_qdiscs), "nft_queue": self.nft_queue, "vlan": self.vlan,
                "wireguard": self.wireguard, "ftp_helper": self.ftp_helper}

    @classmethod
    def from_dict(cls, data: dict) -> Facts:
        """From as_dict()'s shape (a golden case's facts.yaml, the state's record)."""
        unknown = set(data) - {"leaf_qdiscs", "nft_queue", "vlan", "wireguard", "ftp_helper"}
        if unknown:
            raise FactsError(f"facts: unknown {', '.join(sorted(unknown))}")
        qdiscs = tuple(data.get("leaf_qdiscs", ()))
        if set(qdiscs) - set(LEAF_QDISCS):
            raise FactsError(f"facts: leaf_qdiscs are some of {', '.join(LEAF_QDISCS)}")
        wireguard = data.get("wireguard", "kernel")
        if wireguard not in ("kernel", "wireguard-go", None):
            raise FactsError("facts: wireguard is kernel, wireguard-go or null")
        return cls(qdiscs, bool(data.get("nft_queue", False)), bool(data.get("vlan", True)), wireguard,
                   bool(data.get("ftp_helper", True)))


# A stock Debian 12 kernel (the production target): what `pnsbox render` assumes without --netns.
STOCK_KERNEL = Facts(LEAF_QDISCS, nft_queue=True, vlan=True)

"""The classifier's queue rule where nft has no `queue` statement: an iptables-nft chain in
table mangle that pnsbox owns (PNSBOX-CLASSIFY, jumped to from FORWARD), changed in one
`iptables-restore --noflush` transaction; nothing else of iptables is touched."""

from __future__ import annotations

from ..plan import Step, StepKind
from ..render.apps import CLASSIFY_CHAIN
from .netns import KernelError, run


def execute(step: Step, netns: str | None) -> None:
    if step.kind is StepKind.CLASSIFY:
        rules, add_jump = step.args
        # Connection accounting makes `connbytes` count packets; per namespace, off by default.
        run(["sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1"], netns)
        body = [f":{CLASSIFY_CHAIN} - [0:0]", *rules] + ([f"-I FORWARD 1 -j {CLASSIFY_CHAIN}"] if add_jump else [])
    else:
        has_chain, has_jump = step.args
        body = ([f"-D FORWARD -j {CLASSIFY_CHAIN}"] if has_jump else []) + \
            ([f"-F {CLASSIFY_CHAIN}", f"-X {CLASSIFY_CHAIN}"] if has_chain else [])
    proc = run(["iptables-nft-restore", "--noflush"], netns, "*mangle\n" + "\n".join(body) + "\nCOMMIT\n",
               check=False)
    if proc.returncode != 0:
        raise KernelError(f"{step.text}: iptables-nft-restore: {proc.stderr.strip()}")

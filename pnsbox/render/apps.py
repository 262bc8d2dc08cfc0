"""The classifier's verdict, as the kernel sees it (pure).

pnsbox-classifier puts its verdict in a packet's mark (layout in classifier/verdict.py:
bit 31 classified, bits 16-23 category, bits 0-15 application). A chain of the pnsbox table
copies it into the connection's mark, so the flow is never queued again and policies and
traffic classes can match the application for every later packet, in the kernel.
"""

from __future__ import annotations

from ..classifier.catalog import Catalog
from ..classifier.verdict import APP_MASK, CATEGORY_MASK, CATEGORY_SHIFT, CLASSIFIED
from ..model import Classifier
from .objects import OPD_CATEGORY_SETS, OPD_NUMBER_MAP

CLASSIFY_CHAIN = "PNSBOX-CLASSIFY"  # iptables-nft chain in table mangle (kernels without nft `queue`)


def _values(mask: int, values: list[int]) -> str:
    wanted = sorted({CLASSIFIED | v for v in values})
    if len(wanted) == 1:
        return f"ct mark & {mask:#010x} == {wanted[0]:#010x}"
    return f"ct mark & {mask:#010x} {{ {', '.join(f'{v:#010x}' for v in wanted)} }}"


def mark_matches(catalog: Catalog, apps: list[str], categories: list[str]) -> list[str]:
    """nft matches for flows of these applications or categories: alternatives, any may match."""
    out = []
    if apps:
        out.append(_values(CLASSIFIED | APP_MASK, [catalog.app_id(a) for a in apps]))
    if categories:
        out.append(_values(CLASSIFIED | CATEGORY_MASK,
                           [catalog.category_id(c) << CATEGORY_SHIFT for c in categories]))
    return out


def byte_counters(catalog: Catalog) -> tuple[list[str], list[str], list[str]]:
    """Named counters for every application and category of the catalog, and the elements of the
    two maps that pick them by the ct mark: the kernel counts every classified byte, not just the
    few packets the classifier saw."""
    counters = [f'counter app_{name} {{ comment "{name}" }}' for name in sorted(catalog.apps)]
    counters += [f'counter category_{name} {{ comment "{name}" }}' for name in sorted(catalog.categories)]
    apps = [f'{CLASSIFIED | app.id:#010x} : "app_{name}"' for name, app in sorted(catalog.apps.items())]
    categories = [f'{CLASSIFIED | cid << CATEGORY_SHIFT:#010x} : "category_{name}"'
                  for name, cid in sorted(catalog.categories.items())]
    return counters, apps, categories


def count_rules() -> list[str]:
    """Classified packets count toward their application and their category."""
    return [f"{classified_match()} counter name ct mark & {CLASSIFIED | mask:#010x} map @{table} "
            f'comment "bytes by {what}"'
            for mask, table, what in ((APP_MASK, "app_bytes", "application"),
                                      (CATEGORY_MASK, "category_bytes", "category"))]


# Bytes per OPD and category: one dynamic set per direction whose elements (OPD number . category
# bits) carry counters, filled by the kernel as traffic comes. The OPD's number comes from one
# interval map (an element per subnet, like opd_tx), so the per-packet work is a map lookup and a
# hash update whatever the number of OPDs, and the table gains no object per OPD × category.
OPD_CATEGORY_SIZE = 65536  # elements per set at least: 1,000 OPDs × every category of the catalog fits twice
CATEGORY_VALUES = (CATEGORY_MASK >> CATEGORY_SHIFT) + 1


def opd_category_sets(opds: int) -> list[str]:
    """A full set would leave the OPD's number in the packet's mark: room for every OPD with
    every category value the mark can carry."""
    size = max(OPD_CATEGORY_SIZE, opds * CATEGORY_VALUES)
    return [f"set {name} {{ type mark . mark; flags dynamic; counter; size {size}; }}"
            for name in OPD_CATEGORY_SETS.values()]


def opd_category_rules() -> list[str]:
    """Classified packets of an OPD count toward (its number, their category), both ways.
    nft takes no map lookup inside a set key, so the number passes through the packet's mark,
    which is put back as it was: 0, or the classifier's verdict (equal to the ct mark) on the
    few packets it saw. Packets with some other mark are not counted here."""
    restore = {f"meta mark == 0 {classified_match()}": "meta mark set 0",
               f"meta mark & {CLASSIFIED:#010x} == {CLASSIFIED:#010x}": "meta mark set ct mark"}
    rules = []
    for direction, key in (("tx", "iifname . ip saddr"), ("rx", "oifname . ip daddr")):
        for match, back in restore.items():
            rules.append(f"{match} meta mark set {key} map @{OPD_NUMBER_MAP} update @{OPD_CATEGORY_SETS[direction]} "
                         f"{{ meta mark . ct mark & {CLASSIFIED | CATEGORY_MASK:#010x} }} {back} "
                         f'comment "bytes by OPD and category: {"upload" if direction == "tx" else "download"}"')
    return rules


def copy_verdict_rule() -> str:
    return f'meta mark & {CLASSIFIED:#010x} == {CLASSIFIED:#010x} ct mark set meta mark comment "the classifier\'s verdict"'


def ftp_helper_rule() -> str:
    return 'ct state new tcp dport 21 ct helper set "ftp" comment "FTP data connections inherit the verdict"'


def classified_match() -> str:
    return f"ct mark & {CLASSIFIED:#010x} == {CLASSIFIED:#010x}"


def _queues(settings: Classifier) -> tuple[str, str]:
    last = settings.queues - 1
    return (f"{0}-{last}" if last else "0"), (f"--queue-balance 0:{last}" if last else "--queue-num 0")


def queue_rule_nft(settings: Classifier) -> str:
    """For kernels with nft's `queue` statement: a flow's first packets, until it has a verdict."""
    numbers, _ = _queues(settings)
    fanout = ",fanout" if settings.queues > 1 else ""
    return (f"ct mark & {CLASSIFIED:#010x} == 0 ct packets <= {settings.inspect_packets} "
            f'queue flags bypass{fanout} to {numbers} comment "to pnsbox-classifier"')


def queue_rules_iptables(settings: Classifier) -> list[str]:
    """The same for kernels without it (these machines): the iptables-nft NFQUEUE target, in a
    chain of table mangle that pnsbox owns. --queue-bypass: with no classifier bound, packets pass."""
    _, target = _queues(settings)
    return [f"-A {CLASSIFY_CHAIN} -m connmark --mark 0x0/{CLASSIFIED:#x} -m connbytes --connbytes "
            f"1:{settings.inspect_packets} --connbytes-mode packets --connbytes-dir both "
            f"-j NFQUEUE {target} --queue-bypass"]


def queue_chain_restore(rules: list[str] | tuple[str, ...]) -> str:
    """The owned chain with its rules and FORWARD's jump to it, as iptables-restore input."""
    return "\n".join(["*mangle", f":{CLASSIFY_CHAIN} - [0:0]", *rules, f"-A FORWARD -j {CLASSIFY_CHAIN}",
                      "COMMIT", ""])


def classify_only(settings: Classifier, table: str, catalog: Catalog) -> tuple[str, str]:
    """The pieces a namespace needs to classify and nothing else, as the apply layer writes
    them: an iptables-restore input (the owned chain and FORWARD's jump to it) and an nft table
    copying the verdict and counting bytes by application and category (the per-packet work of
    the real ruleset). For the classifier's own tests and benchmark."""
    iptables = queue_chain_restore(queue_rules_iptables(settings))
    counters, app_elements, category_elements = byte_counters(catalog)
    maps = [f"  map {name} {{ type mark : counter; elements = {{ {', '.join(elements)} }} }}"
            for name, elements in (("app_bytes", app_elements), ("category_bytes", category_elements))]
    nft = "\n".join([f"table inet {table} {{", *(f"  {c}" for c in counters), *maps,
                     "  chain classify {", "    type filter hook forward priority mangle + 10;",
                     f"    {copy_verdict_rule()}", "  }",
                     "  chain count {", "    type filter hook forward priority filter;",
                     *(f"    {rule}" for rule in count_rules()), "  }", "}", ""])
    return iptables, nft

"""What counting bytes per OPD and category costs at 1,000 OPDs: ruleset lines and the time of a
first load (`nft -f` into a namespace without a pnsbox table, as a first apply does), for the
ruleset without it, with the chosen mechanism (two dynamic sets whose elements carry counters,
keyed by OPD number . category), and with the alternative it was chosen over (a named counter
per OPD, category and direction, picked by an `ifname . ipv4_addr . mark` interval map). Then
what observe pays to read the sets back when every OPD has used every category both ways.

    sudo .venv/bin/python bench/opd_categories.py [--opds 1000] [--repeat 5]

Loads are interleaved (without, sets, counters, without, ...) and each figure is the median.
Namespaces are `pnsbench-<pid>-*`, removed on exit; the host's namespace is never changed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchkit import Namespaces, code_version, in_ns, machine, sh, unwind_on_sigterm
from scale import site_yaml, validate

from pnsbox.classifier.catalog import load_catalog
from pnsbox.classifier.verdict import CATEGORY_SHIFT, CLASSIFIED
from pnsbox.facts import Facts
from pnsbox.observe import counters
from pnsbox.render.apps import OPD_CATEGORY_SETS
from pnsbox.render.site import site

PREAMBLE = "table inet pnsbox\ndelete table inet pnsbox\n"


def rulesets(n: int) -> dict[str, str]:
    text = site_yaml(n).replace("  timezone: Asia/Jakarta\n",
                                "  timezone: Asia/Jakarta\n  classifier: {queues: 1, inspect_packets: 12}\n")
    config = validate(text)
    catalog = load_catalog()
    chosen = site(config, Facts(("pfifo",)), catalog).ruleset.text
    lines = chosen.splitlines()
    first = lines.index("\tmap opd_number {")
    last = next(i for i in range(lines.index("\tchain opd_categories {"), len(lines)) if lines[i] == "\t}")
    without = lines[:first] + lines[last + 1:]
    # the alternative: OPDs × categories × 2 named counters and two maps picking them
    counters_, maps, rules = [], [], []
    for direction, key in (("tx", "iifname . ip saddr"), ("rx", "oifname . ip daddr")):
        elements = []
        for name, opd in config.opds.items():
            for category, cid in sorted(catalog.categories.items()):
                counters_.append(f"\tcounter oc_{name}_{category}_{direction} {{ }}")
                mark = CLASSIFIED | cid << CATEGORY_SHIFT
                elements += [f'"{opd.link.device}" . {net} . {mark:#010x} : "oc_{name}_{category}_{direction}"'
                             for net in opd.subnet]
        maps += [f"\tmap oc_{direction} {{", "\t\ttype ifname . ipv4_addr . mark : counter; flags interval",
                 f"\t\telements = {{ {', '.join(elements)} }}", "\t}"]
        # nft takes no `&` inside a map's key, and this kernel refuses (EEXIST) a range of marks per
        # element (0x80020000-0x8002ffff) past a few dozen OPDs: the real alternative would need
        # the category copied to a field of its own first. What is loaded here, one exact mark per
        # element, has its size (objects and elements), so its load time is a lower bound.
        rules.append(f"\t\tct mark & {CLASSIFIED:#010x} == {CLASSIFIED:#010x} counter name {key} . "
                     f"ct mark map @oc_{direction}")
    cross = without[:first] + counters_ + maps + ["\tchain opd_categories {",
                                                  "\t\ttype filter hook forward priority filter + 10; policy accept;",
                                                  *rules, "\t}"] + without[first:]
    return {"without": "\n".join(without) + "\n", "dynamic sets (chosen)": chosen,
            "named counters (OPD × category)": "\n".join(cross) + "\n"}


def load_time(spaces: Namespaces, text_file: Path, label: str) -> float:
    ns = spaces.add(f"load-{label}")
    try:
        started = time.perf_counter()
        sh(in_ns(ns, "nft", "-f", str(text_file)))
        return time.perf_counter() - started
    finally:
        spaces.remove(ns)


def read_cost(spaces: Namespaces, text_file: Path, n: int, categories: int) -> tuple[int, float]:
    """Every OPD has used every category both ways: elements, and observe's read of them."""
    ns = spaces.add("read")
    try:
        sh(in_ns(ns, "nft", "-f", str(text_file)))
        batch = []
        for name in OPD_CATEGORY_SETS.values():
            for number in range(1, n + 1):
                keys = ", ".join(f"{number:#010x} . {CLASSIFIED | c << CATEGORY_SHIFT:#010x}"
                                 for c in range(1, categories + 1))
                batch.append(f"add element inet pnsbox {name} {{ {keys} }}")
        sh(in_ns(ns, "nft", "-f", "-"), stdin="\n".join(batch) + "\n")
        catalog = load_catalog()
        times, found = [], {}
        for _ in range(5):
            started = time.perf_counter()
            found = counters.opd_categories(ns, catalog)
            times.append(time.perf_counter() - started)
        return sum(len(v) for v in found.values()), statistics.median(times)
    finally:
        spaces.remove(ns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opds", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/opd_categories.py needs root (network namespaces)", file=sys.stderr)
        return 2
    print(f"bench/opd_categories.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {machine()}\npnsbox: {code_version()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    unwind_on_sigterm()
    spaces = Namespaces()
    tmp = Path(tempfile.mkdtemp(prefix="pnsbench-"))
    try:
        texts = rulesets(args.opds)
        files = {}
        for i, (label, text) in enumerate(texts.items()):
            files[label] = tmp / f"{i}.nft"
            files[label].write_text(PREAMBLE + text)
        times: dict[str, list[float]] = {label: [] for label in texts}
        for _ in range(args.repeat):
            for i, label in enumerate(texts):
                times[label].append(load_time(spaces, files[label], str(i)))
        base = statistics.median(times["without"])
        print(f"{args.opds} OPDs, classifier on; first load (`nft -f`), median of {args.repeat}, interleaved")
        print(f"{'ruleset':<34}{'lines':>8}{'bytes':>11}{'first load':>12}{'vs without':>12}")
        for label, text in texts.items():
            median = statistics.median(times[label])
            print(f"{label:<34}{len(text.splitlines()):>8}{len(text):>11}{median:>11.3f}s{median / base:>11.2f}x")
        categories = len(load_catalog().categories)
        elements, seconds = read_cost(spaces, files["dynamic sets (chosen)"], args.opds, categories)
        print(f"\nobserve reads {elements} (OPD, category) pairs from {2 * args.opds * categories} set elements "
              f"(every OPD × {categories} categories × 2 ways) in {seconds * 1000:.0f} ms (median of 5)")
    finally:
        spaces.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

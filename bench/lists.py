"""Domain lists: a synthetic TrustPositif-format list of N domains (default 1,000,000),
compiled, mapped and looked up as pnsbox-classifier does at start and on SIGHUP.

    .venv/bin/python bench/lists.py [--domains N]

The list is written by this process; a fresh interpreter then does what the classifier's
supervisor does (import the engine, load the catalog, compile the list, map it) and reports:
compile time, the table's size, its own peak memory (ru_maxrss, interpreter included) before
and after, lookups per second (listed names, names under a listed domain, unlisted names),
and a reload: the list compiled again while a thread keeps looking names up through the old
table, switched between two lookups; lookups that found nothing must be none. Not a
pass/fail test.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import code_version, machine  # noqa: E402

WORDS = ["judi", "slot", "togel", "bola", "gacor", "maxwin", "situs", "link", "daftar", "resmi",
         "online", "terpercaya", "alternatif", "vip", "pro", "asia", "88", "77", "99", "303"]
TLDS = ["com", "net", "org", "xyz", "info", "site", "online", "top", "id", "co.id", "biz", "club"]


def synthetic(count: int, seed: int = 15) -> list[str]:
    """Distinct plausible domains: two to four words and a number, under a common TLD."""
    rng = random.Random(seed)
    out = set()
    while len(out) < count:
        words = "".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4)))
        out.add(f"{words}{rng.randint(0, 99999)}.{rng.choice(TLDS)}")
    return sorted(out)


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: reset by exec, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(directory: Path) -> int:
    from pnsbox.classifier.catalog import default_catalog
    from pnsbox.classifier.lists import compile_lists, open_lists

    catalog = default_catalog()
    names = (directory / "sample.txt").read_text().split()
    into = directory / "compiled"
    before = peak_mb()
    started, cpu = time.perf_counter(), time.process_time()
    compiled = compile_lists(catalog, directory, into)
    compile_s, compile_cpu = time.perf_counter() - started, time.process_time() - cpu
    lists = open_lists(catalog, compiled)
    print(f"compile (read, check, hash, table, write): {compile_s:.2f} s wall, {compile_cpu:.2f} s CPU; table "
          f"{compiled['blocked-trustpositif'].stat().st_size / 1e6:.1f} MB (one file, mapped by every worker)")
    print(f"classifier process peak memory: {before:.0f} MB before compiling (interpreter, engine, "
          f"catalog), {peak_mb():.0f} MB after")
    for label, sample, listed in (("listed", names, True), ("under a listed domain", ["www." + n for n in names], True),
                                  ("unlisted", ["not-" + n for n in names], False)):
        started = time.process_time()
        hits = sum(1 for name in sample if lists.category_of(name))
        seconds = time.process_time() - started
        print(f"lookups, {label}: {len(sample) / seconds:,.0f}/s of CPU, {hits} of {len(sample)} matched "
              f"({'all' if listed else 'none'} should)")

    stop = threading.Event()
    state = {"lookups": 0, "misses": 0, "lists": lists}

    def classify():
        while not stop.is_set():
            for name in names[:1000]:
                state["lookups"] += 1
                if not state["lists"].category_of(name):
                    state["misses"] += 1

    thread = threading.Thread(target=classify)
    thread.start()
    time.sleep(0.2)
    started = time.perf_counter()
    state["lists"] = open_lists(catalog, compile_lists(catalog, directory, into))
    reload_s = time.perf_counter() - started
    time.sleep(0.2)
    stop.set()
    thread.join()
    print(f"reload beside lookups: {reload_s:.2f} s, {state['lookups']:,} lookups meanwhile, "
          f"{state['misses']} found nothing")
    print(f"classifier process peak memory at the end: {peak_mb():.0f} MB")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1_000_000)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    print(f"domain lists; {machine()}")
    print(code_version())
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        domains = synthetic(args.domains)
        with open(directory / "trustpositif.txt", "w") as file:
            file.write("# synthetic TrustPositif-format list\n" + "\n".join(domains) + "\n")
        (directory / "sample.txt").write_text("\n".join(random.Random(1).sample(domains, 20000)))
        size = (directory / "trustpositif.txt").stat().st_size
        print(f"list file: {len(domains):,} domains, {size / 1e6:.1f} MB")
        del domains
        return subprocess.run([sys.executable, __file__, "--child", str(directory)], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())

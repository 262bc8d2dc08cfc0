"""Names shared across classifier workers: the per-process NameMemory (a dict) against the
shared table (shared_names.py) every worker maps, side by side in one run.

    .venv/bin/python bench/names.py [--addresses N]

Per structure: answers learned per second and lookups per second (CPU time, one core). For
the shared table also: one process learns N answers while another, forked before, looks
every address up: how many it finds (the rest were evicted from full buckets). Not a
pass/fail test.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import code_version, machine  # noqa: E402

from pnsbox.classifier.names import NameMemory  # noqa: E402
from pnsbox.classifier.shared_names import SharedNames  # noqa: E402


def rates(memory, addresses) -> tuple[float, float, int]:
    started = time.process_time()
    for i, address in enumerate(addresses):
        memory.learn(address, f"host{i}.example.co.id", 300, 1000.0)
    learn = len(addresses) / (time.process_time() - started)
    started = time.process_time()
    hits = sum(1 for address in addresses if memory.name_of(address, 1001.0))
    return learn, len(addresses) / (time.process_time() - started), hits


def _reader(names, addresses, go, out):
    go.wait(60)
    out.send(sum(1 for address in addresses if names.name_of(address, 1001.0)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=50_000)
    args = parser.parse_args(argv)
    print(f"names shared across workers; {machine()}")
    print(code_version())
    rng = random.Random(2)
    addresses = [rng.randbytes(4) if i % 4 else rng.randbytes(16) for i in range(args.addresses)]
    print(f"{'structure':<34}{'learned/s':>12}{'lookups/s':>12}{'found':>9}")
    for label, memory in (("NameMemory (per worker, dict)", NameMemory()),
                          ("SharedNames (16 MB, all workers)", SharedNames.create())):
        learn, lookup, hits = rates(memory, addresses)
        print(f"{label:<34}{learn:>12,.0f}{lookup:>12,.0f}{hits:>9,}")
    names = SharedNames.create()
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    go = context.Event()
    reader = context.Process(target=_reader, args=(names, addresses, go, send))
    reader.start()
    for i, address in enumerate(addresses):
        names.learn(address, f"host{i}.example.co.id", 300, 1000.0)
    go.set()
    found = receive.recv()
    reader.join()
    print(f"learned in one process, looked up in another: {found:,} of {len(addresses):,} found "
          f"({100 * found / len(addresses):.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

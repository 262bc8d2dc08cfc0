"""`make test-vm`: the full-kernel tests, run inside Debian's own kernel (tests/vm/run.py).

Runs tests/full_kernel (marked full_kernel) and tests/kernel/test_wireguard.py (which on this
kernel takes the kernel WireGuard backend) in the guest, then prints how many passed, failed
and were skipped, file by file, read from the guest's JUnit report. It fails when a test
failed, and when none passed: a tier that silently runs nothing does not count.

The provisioning test installs pnsbox in the guest with `make install`; the guest has no
network, so pip reads the wheels built here beforehand (PIP_FIND_LINKS, PIP_NO_INDEX).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402 -- the runner beside this file

TESTS = ["tests/full_kernel", "tests/kernel/test_wireguard.py"]


def build_wheels() -> Path:
    """Every wheel `pip install .` needs, for the offline guest (cached beside the kernel)."""
    wheels = run.cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    pip = [str(run.ROOT / ".venv" / "bin" / "pip"), "-q", "--disable-pip-version-check"]
    built = subprocess.run([*pip, "wheel", "-w", str(wheels), str(run.ROOT), "setuptools>=61", "wheel", "pip"],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"pnsbox-vm: pip wheel failed:\n{built.stdout}{built.stderr}")
    return wheels


def summarize(report: Path) -> tuple[Counter, dict[str, Counter]]:
    total, by_file = Counter(), {}
    for case in ET.parse(report).iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        where = case.get("classname", "?")
        total[outcome] += 1
        by_file.setdefault(where, Counter())[outcome] += 1
    return total, by_file


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pnsbox-vm-results-") as results:  # gone after the summary
        return tier(Path(results))


def tier(results: Path) -> int:
    started = time.monotonic()
    wheels = build_wheels()
    os.environ["PNSBOX_VM_RESULTS"] = str(results)
    extra = sys.argv[1:]  # e.g. -k vlan
    command = ["env", f"PIP_FIND_LINKS={wheels}", "PIP_NO_INDEX=1", "PIP_DISABLE_PIP_VERSION_CHECK=1",
               str(run.ROOT / ".venv" / "bin" / "pytest"), "-p", "no:cacheprovider", "-v", "-rs", "--durations=8",
               "--junitxml=/out/junit.xml", *TESTS, *extra]
    rc = run.run(command, os.environ.get("PNSBOX_VM_ACCEL", "auto"))
    report = results / "junit.xml"
    if not report.exists():
        print("full-kernel tier: the guest left no test report: 0 passed", flush=True)
        return 1
    total, by_file = summarize(report)
    print("\nfull-kernel tier, file by file:")
    for where, count in sorted(by_file.items()):
        print(f"  {where:<48} {count['passed']} passed, {count['failed']} failed, {count['skipped']} skipped")
    print(f"full-kernel tier: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped "
          f"in {time.monotonic() - started:.0f} s")
    if total["passed"] == 0:
        print("full-kernel tier: no test passed in the guest; that is a failure, not a pass")
        return 1
    return 0 if rc == 0 and total["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""The full-kernel tier: tests of paths this development kernel cannot run (802.1Q, kernel
WireGuard, fq_codel/cake leaves, nft `queue`). They skip here with the missing feature named;
`make test-vm` runs them on Debian's own kernel in qemu (tests/vm/run.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernel"))  # labkit



def pytest_collection_modifyitems(items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.full_kernel)
            item.add_marker(pytest.mark.kernel)

"""Suite-wide guards: the tests leave the host network namespace exactly as they found it, and
never write the machine's own state directories (/var/lib/pnsbox, /var/lib/pnsbox-web)."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

MACHINE_STATE = [Path("/var/lib/pnsbox"), Path("/var/lib/pnsbox-web")]
# A command a test forgets to point elsewhere lands here, not in the machine's directories.
_SCRATCH = tempfile.mkdtemp(prefix="pnsbox-tests-state-")
os.environ.setdefault("PNSBOX_STATE_DIR", os.path.join(_SCRATCH, "pnsbox"))
os.environ.setdefault("PNSBOX_WEB_STATE_DIR", os.path.join(_SCRATCH, "pnsbox-web"))


def _tree(root: Path) -> list:
    if not root.exists():
        return ["(absent)"]
    return sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in [root, *root.rglob("*")])


@pytest.fixture(scope="session", autouse=True)
def machine_state_untouched():
    if os.environ.get("PNSBOX_VM") == "1":
        # make test-vm's throwaway guest, whose writes go to its own memory: there the
        # provisioning test installs pnsbox as on a real box, state directories included.
        yield
        return
    before = {root: _tree(root) for root in MACHINE_STATE}
    yield
    changed = [str(root) for root in MACHINE_STATE if _tree(root) != before[root]]
    assert not changed, f"the tests wrote the machine's own state: {changed}"


def _host_network_state() -> dict:
    def out(*argv):
        proc = subprocess.run(argv, capture_output=True, text=True)
        return proc.stdout if proc.returncode == 0 else f"({argv[0]} unavailable)"

    return {
        "links": out("ip", "-o", "link", "show"),
        "addresses": out("ip", "-o", "addr", "show"),
        "routes": out("ip", "route", "show", "table", "all"),
        "nftables": out("nft", "list", "ruleset"),
    }


@pytest.fixture(scope="session", autouse=True)
def host_namespace_untouched():
    if os.geteuid() != 0:
        yield
        return
    before = _host_network_state()
    yield
    after = _host_network_state()
    changed = [name for name in before if _stable(before[name]) != _stable(after[name])]
    assert not changed, f"the tests changed the host namespace: {changed}"


def _stable(text: str) -> str:
    # Link counters and states of unrelated links are not ours to judge; names and addresses are.
    return "\n".join(sorted(line.split(" link/")[0].split("state")[0] for line in text.splitlines()))

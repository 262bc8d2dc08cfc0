"""Suite-wide guard: the tests must leave the host network namespace exactly as they found it."""

import os
import subprocess

import pytest


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

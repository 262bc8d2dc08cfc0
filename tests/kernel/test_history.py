"""Every apply is a version; rollback re-applies an earlier one; the audit trail records it all."""

import os
import shutil
import subprocess
import uuid

import pytest
from labkit import EXAMPLE, ROOT, delete_netns

from pnsbox.apply.pipeline import render_for
from pnsbox.load import load_site
from pnsbox.observe import table
from pnsbox.validate import build

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)

PNSBOX = str(ROOT / ".venv" / "bin" / "pnsbox")
DEVICES = ["wan0", "opd-dinkes", "opd-bappeda", "lan0.130", "dc0"]


@pytest.fixture
def hub():
    name, sink = f"pnshist-{uuid.uuid4().hex[:6]}", f"pnshist-{uuid.uuid4().hex[:6]}-s"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "netns", "add", sink], check=True)
    try:
        for i, device in enumerate(DEVICES):
            subprocess.run(["ip", "-n", name, "link", "add", "name", device, "type", "veth", "peer", "name",
                            f"p{i}", "netns", sink], check=True)
        yield name
    finally:
        delete_netns(name)
        subprocess.run(["ip", "netns", "del", sink])


def pnsbox(*args):
    proc = subprocess.run([PNSBOX, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_history_diff_rollback_and_audit(hub, tmp_path):
    site, state = tmp_path / "site", str(tmp_path / "state")
    shutil.copytree(EXAMPLE, site)
    pnsbox("apply", "-c", str(site), "--netns", hub, "--state-dir", state, "-m", "first", "--author", "ani")
    first = table.running_digest(hub)
    main = site / "pnsbox.yaml"
    main.write_text(main.read_text().replace("  - {name: it-support, from: diskominfo, to: opds, action: accept}\n", ""))
    pnsbox("apply", "-c", str(site), "--netns", hub, "--state-dir", state, "-m", "no it-support", "--author", "budi")
    assert table.running_digest(hub) == render_for(build(load_site(site)), hub, state).ruleset.digest != first

    history = pnsbox("history", "--state-dir", state)
    assert "ani" in history and "first" in history and "budi" in history and "no it-support" in history
    assert "-  - {name: it-support" in pnsbox("diff", "1", "2", "--state-dir", state)

    pnsbox("rollback", "1", "--netns", hub, "--state-dir", state)
    assert table.running_digest(hub) == first  # the kernel runs version 1's ruleset again
    assert "rollback to version 1" in pnsbox("history", "--state-dir", state)

    trail = pnsbox("audit", "--state-dir", state)
    assert [line.split()[3] for line in trail.splitlines()] == ["apply", "apply", "rollback"]
    assert "INTACT" in pnsbox("audit", "verify", "--state-dir", state)
    log = tmp_path / "state" / "audit.log"
    log.write_text(log.read_text().replace("no it-support", "harmless"))
    broken = subprocess.run([PNSBOX, "audit", "verify", "--state-dir", state], capture_output=True, text=True)
    assert broken.returncode == 1 and "entry 2: its content was changed" in broken.stderr


def test_an_unchanged_apply_adds_no_version(hub, tmp_path):
    state = str(tmp_path / "state")
    for _ in range(2):
        pnsbox("apply", "-c", str(EXAMPLE), "--netns", hub, "--state-dir", state)
    assert len(pnsbox("history", "--state-dir", state).splitlines()) == 1

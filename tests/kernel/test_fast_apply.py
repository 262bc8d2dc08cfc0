"""An unchanged `pnsbox apply` is decided from the files' text and the kernel's table digest
alone (pnsbox.settled): no model, no render. Anything else that differs takes the full path."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labkit import ROOT
from test_daemon import box  # noqa: F401  (the fixture: a hub namespace with the example's devices)

from pnsbox.daemon.statedir import StateDirLock
from pnsbox.observe import table
from pnsbox.settled import already_runs
from pnsbox.store import site_files

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)


def pnsbox(box, *args, importtime=False):  # noqa: F811
    argv = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "pnsbox.cli", "apply",
            "-c", str(box["site"]), "--netns", box["hub"], "--state-dir", box["state"], "--socket", "/nonexistent",
            *args]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_an_unchanged_apply_imports_no_model_and_a_changed_kernel_site_or_pnsbox_takes_the_full_path(box):  # noqa: F811
    assert "applied as version 1" in pnsbox(box).stdout
    quick = pnsbox(box, importtime=True)
    assert quick.stdout == "nothing to change: the box already runs version 1\n"
    imported = {line.split("|")[-1].strip() for line in quick.stderr.splitlines() if line.startswith("import time")}
    assert "pnsbox.settled" in imported
    assert not {"pydantic", "pnsbox.model", "pnsbox.render.nft", "pnsbox.daemon.core"} & imported

    # the kernel's table is gone: the digest says so, and the full path puts it back
    subprocess.run(["ip", "netns", "exec", box["hub"], "nft", "delete", "table", "inet", "pnsbox"], check=True)
    assert already_runs(site_files(box["site"]), box["state"], box["hub"]) is None
    assert "version 1 re-applied" in pnsbox(box).stdout
    assert table.running_digest(box["hub"]) == json.loads(Path(box["state"], "history", "000001.json").read_text())["digest"]
    assert already_runs(site_files(box["site"]), box["state"], box["hub"]) == 1

    # a schedule opened or closed since (the recorded `until` passed): the full path, which
    # puts the plans in force and records the next edge
    owned = Path(box["state"], "owned", f"{box['hub']}.json")
    record = json.loads(owned.read_text())
    assert record["until"] > time.time()
    record["until"] = time.time() - 1
    owned.write_text(json.dumps(record))
    assert already_runs(site_files(box["site"]), box["state"], box["hub"]) is None
    assert "nothing to change" in pnsbox(box).stdout
    assert already_runs(site_files(box["site"]), box["state"], box["hub"]) == 1

    # another pnsbox rendered what runs (an upgrade since: a new renderer or catalog): the full
    # path renders with the code that runs now, and records it
    from pnsbox.codeprint import code_fingerprint

    record = json.loads(owned.read_text())
    assert record["code"] == code_fingerprint()
    record["code"] = "0000000000000000"
    owned.write_text(json.dumps(record))
    assert already_runs(site_files(box["site"]), box["state"], box["hub"]) is None
    assert "nothing to change" in pnsbox(box).stdout
    assert json.loads(owned.read_text())["code"] == code_fingerprint()
    assert already_runs(site_files(box["site"]), box["state"], box["hub"]) == 1

    # other files: a new version, however small the change
    main = box["site"] / "pnsbox.yaml"
    main.write_text(main.read_text() + "\n# a comment\n")
    assert already_runs(site_files(box["site"]), box["state"], box["hub"]) is None
    changed = pnsbox(box, importtime=True)
    assert "applied as version 2" in changed.stdout
    # the full path in process imports the model and the render, but not pnsboxd's metrics, the
    # classifier's engine or cryptography (this site has no WireGuard OPD and no application rule)
    imported = {line.split("|")[-1].strip() for line in changed.stderr.splitlines() if line.startswith("import time")}
    assert {"pnsbox.model", "pnsbox.render.nft", "pnsbox.daemon.core"} <= imported
    assert not {"prometheus_client", "cryptography", "pnsbox.classifier.engine", "pnsbox.lab"} & imported
    assert already_runs(site_files(box["site"]), box["state"], box["hub"]) == 2

    # a state directory pnsboxd owns: even an unchanged apply is refused, naming its socket
    owner = StateDirLock(box["state"])
    owner.acquire("pnsboxd", "/run/pnsbox-test/control.sock")
    try:
        refused = subprocess.run([sys.executable, "-m", "pnsbox.cli", "apply", "-c", str(box["site"]), "--netns",
                                  box["hub"], "--state-dir", box["state"], "--socket", "/nonexistent"],
                                 capture_output=True, text=True, cwd=ROOT)
    finally:
        owner.release()
    assert refused.returncode == 4 and "--socket /run/pnsbox-test/control.sock" in refused.stderr
    shutil.rmtree(Path(box["state"], "history"))
    assert already_runs(site_files(box["site"]), box["state"], box["hub"]) is None, "no history: no trust"


SMALL = """\
site:
  name: fast
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
services:
  simpeg: {addresses: [10.0.10.10], ports: [tcp/443], link: {interface: dc0, address: 10.0.10.1/24}}
opds:
  dinkes: {name: Dinkes, subnet: 10.21.0.0/24, link: {interface: opd-dinkes}, bandwidth: {guaranteed: 10mbit, ceiling: 100mbit}}
  bappeda: {name: Bappeda, subnet: 10.22.0.0/24, link: {interface: opd-bappeda}, bandwidth: {guaranteed: 10mbit, ceiling: 100mbit}}
policies:
  - {name: simpeg-for-all, from: opds, to: simpeg, action: accept}
"""


def test_a_policy_change_replaces_the_table_without_reading_the_kernel_back_and_a_new_link_does(box, monkeypatch):  # noqa: F811
    """Only policies (and rates) differ from the last apply, whose table still runs: the links,
    addresses, routes and classes are as it left them, so pnsbox loads the new table and sets the
    changed rates without the full observe; anything more takes the full path again."""
    from pnsbox.apply import pipeline
    from pnsbox.load import load_text
    from pnsbox.observe import box as observe_box
    from pnsbox.plan import StepKind
    from pnsbox.validate import build

    observed = []
    real_observe = observe_box.observe
    monkeypatch.setattr(observe_box, "observe", lambda *a: observed.append(1) or real_observe(*a))

    def apply(text):
        observed.clear()
        return pipeline.apply(build(load_text(text)), box["hub"], box["state"])

    first = apply(SMALL)
    assert observed and first.ruleset is not None
    added = SMALL.replace("policies:\n", "policies:\n  - {name: files, from: dinkes, to: bappeda, ports: [tcp/445], "
                                         "action: accept}\n").replace("ceiling: 100mbit}}\n  bappeda", "ceiling: 50mbit}}\n  bappeda")
    second = apply(added)
    assert not observed  # the kernel was not read back
    assert [s.kind for s in second.steps] == [StepKind.RULESET] + [StepKind.TC] * (len(second.steps) - 1)
    assert len(second.steps) > 1  # bappeda's classes, changed in place
    assert table.running_digest(box["hub"]) == second.ruleset.digest
    listed = subprocess.run(["ip", "netns", "exec", box["hub"], "nft", "list", "table", "inet", "pnsbox"],
                            capture_output=True, text=True, check=True).stdout
    assert 'comment "policies[0] files"' in listed
    classes = "".join(subprocess.run(["tc", "-n", box["hub"], "class", "show", "dev", tree.device], capture_output=True,
                                     text=True, check=True).stdout for tree in second.shaping.trees)
    assert "ceil 50Mbit" in classes

    # an OPD's subnet moves: its address and route change, so the kernel is observed again
    third = apply(added.replace("10.22.0.0/24", "10.23.0.0/24"))
    assert observed
    assert table.running_digest(box["hub"]) == third.ruleset.digest

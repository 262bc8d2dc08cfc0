"""`pnsbox show` on a shaped hub: both IFBs' classes and their leaf queues' own counters."""

import os
import subprocess
import sys
import tempfile

import pytest
from labkit import ROOT, new_lab_name

from pnsbox.apply.pipeline import apply
from pnsbox.lab import topology
from pnsbox.load import load_text
from pnsbox.validate import build

pytestmark = pytest.mark.kernel

SITE = """\
site:
  name: show
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 100mbit}
opds:
  a:
    name: A
    subnet: 10.21.0.0/24
    link: {interface: opd-a}
    bandwidth: {guaranteed: 2mbit, ceiling: 4mbit}
policies:
  - {name: internet, from: opds, to: internet, action: accept}
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="kernel tests need root (network namespaces)")
def test_show_prints_both_directions_with_each_leaf_queues_counters():
    config = build(load_text(SITE))
    name = new_lab_name("w")
    state = tempfile.mkdtemp(prefix="pnsbox-state-")
    topology.lab_up(config, name)
    try:
        hub = topology.netns_name(name, "hub")
        apply(config, hub, state)
        shown = subprocess.run([sys.executable, "-m", "pnsbox.cli", "show", "--netns", hub, "--state-dir", state],
                               capture_output=True, text=True, cwd=ROOT)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.count("(leaf queues: pfifo;") == 2, shown.stdout  # download and upload
        rows = [line.split() for line in shown.stdout.splitlines() if line.startswith("pfifo ")]
        assert len(rows) == 6 and {row[1] for row in rows} == {"1:2", "1:100", "1:fffe"}, rows
    finally:
        topology.lab_down(name)

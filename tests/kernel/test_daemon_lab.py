"""A real pnsboxd process running the example site in a lab: verified apply with checks,
the anti-lockout check against real SSH-like access, rollback through the CLI, and the
Prometheus endpoint counting the traffic sent through the lab."""

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from labkit import EXAMPLE, ROOT, in_node, new_lab_name, probe
from prometheus_client.parser import text_string_to_metric_families

from pnsbox.control.client import ControlClient
from pnsbox.lab import servers, topology
from pnsbox.load import load_site
from pnsbox.observe import table
from pnsbox.store import site_files
from pnsbox.validate import build

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)

BIN = ROOT / ".venv" / "bin"
SIMPEG, INTERNET = "10.0.10.10", "203.0.113.10"
CHECKS = "\nchecks:\n  reach: [198.51.100.1]\n  tcp: [203.0.113.10:80, 10.0.10.53:53]\n  timeout: 2\n"
IT_OFFICE_SSH = "10.30.0.2 50022 10.30.0.1 22"  # SSH_CONNECTION of an admin in diskominfo


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """The example lab, pnsboxd managing its hub, and the site (with checks) applied as version 1."""
    name = new_lab_name("d")
    tmp = tmp_path_factory.mktemp("daemonlab")
    site, state, sock = tmp / "site", str(tmp / "state"), str(tmp / "control.sock")
    shutil.copytree(EXAMPLE, site)
    main = site / "pnsbox.yaml"
    main.write_text(main.read_text() + CHECKS)
    port = _free_port()
    proc = None
    log = open(tmp / "pnsboxd.log", "w")  # noqa: SIM115 -- the daemon writes it for the module's life
    try:
        topology.lab_up(build(load_site(site)), name)
        hub = topology.netns_name(name, "hub")
        proc = subprocess.Popen([str(BIN / "pnsboxd"), "--state-dir", state, "--socket", sock, "--netns", hub,
                                 "--metrics-listen", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        box = {"lab": name, "hub": hub, "site": site, "state": state, "socket": sock, "port": port}
        cli(box, "apply", "-c", str(site), "-m", "base with checks")
        yield box
    finally:
        if proc:
            proc.kill()
            proc.wait()
        log.close()
        topology.lab_down(name)


def cli(box, *args, env=None, expect=0):
    proc = subprocess.run([str(BIN / "pnsbox"), *args, "--socket", box["socket"]], capture_output=True,
                          text=True, env={**os.environ, **(env or {})})
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def audit_actions(box) -> list[str]:
    out = subprocess.run([str(BIN / "pnsbox"), "audit", "--state-dir", box["state"]], capture_output=True,
                         text=True).stdout
    return [line.split()[3] for line in out.splitlines()]


def edited(box, old: str, new: str):
    """A copy of the site with one edit; the original stays as it is."""
    copy = box["site"].parent / f"edit-{time.monotonic_ns()}"
    shutil.copytree(box["site"], copy)
    main = copy / "pnsbox.yaml"
    assert old in main.read_text()
    main.write_text(main.read_text().replace(old, new))
    return copy


def test_a_failing_check_rolls_back_on_its_own(box):
    base = table.running_digest(box["hub"])
    # A mistyped upstream gateway cuts the province off the internet: the internet check fails.
    broken = edited(box, "gateway: 198.51.100.1", "gateway: 198.51.100.254")
    out = cli(box, "apply", "-c", str(broken), "-m", "new gateway", expect=3)
    assert "failed its checks" in out and "tcp 203.0.113.10:80" in out and "back to version 1" in out
    assert "10.0.10.53:53" not in out  # that check held
    assert table.running_digest(box["hub"]) == base
    assert "via 198.51.100.1" in in_node(box["lab"], "hub", "ip", "route", "show", "default")
    internet = ["tcp", INTERNET, 80]
    assert probe(box["lab"], "dinkes", [internet])[tuple(internet)]["result"] == "answered"
    assert audit_actions(box)[-1] == "check-failed"


def test_a_change_that_locks_out_the_admin_is_refused_unless_forced(box):
    servers.start(box["hub"], "hub", [22], [])
    base = table.running_digest(box["hub"])
    lockout = edited(box, "from: [diskominfo]", "from: [dinkes]")
    ssh = {"SSH_CONNECTION": IT_OFFICE_SSH}
    out = cli(box, "apply", "-c", str(lockout), env=ssh, expect=4)
    assert "cut your management access" in out and "10.30.0.2" in out
    assert table.running_digest(box["hub"]) == base and audit_actions(box)[-1] == "refused"
    ssh_to_box = ["tcp", "10.30.0.1", 22]
    assert probe(box["lab"], "diskominfo", [ssh_to_box])[tuple(ssh_to_box)]["result"] == "answered"

    # The web UI relays its signed-in user: the same check holds for web:ADDR on tcp/443.
    status, reply = ControlClient(box["socket"]).request("POST", "/apply", {"files": site_files(lockout), "author": "ani",
                                                           "from": "web:10.30.0.2", "port": "tcp/443"})
    assert status == 403 and "web from 10.30.0.2 on tcp/443" in reply["error"]
    assert "via root" in ControlClient(box["socket"]).request("GET", "/audit")[1][-1]["from"]

    cli(box, "apply", "-c", str(lockout), "--force", env=ssh)  # forced: the prediction comes true
    assert probe(box["lab"], "diskominfo", [ssh_to_box])[tuple(ssh_to_box)]["result"] == "timeout"
    # Undo from the console (not over the cut SSH), through the daemon.
    cli(box, "rollback", "1")
    assert table.running_digest(box["hub"]) == base
    assert probe(box["lab"], "diskominfo", [ssh_to_box])[tuple(ssh_to_box)]["result"] == "answered"
    assert audit_actions(box)[-2:] == ["apply", "rollback"]


def scrape(box) -> dict:
    text = urllib.request.urlopen(f"http://127.0.0.1:{box['port']}/metrics", timeout=10).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_metrics_endpoint_counts_the_traffic_sent(box):
    before = scrape(box)
    body = in_node(box["lab"], "dinkes", "curl", "-sS", "-m", "3", f"http://{INTERNET}/")
    upload = "x" * 20000
    in_node(box["lab"], "dinkes", "curl", "-sS", "-m", "3", "-o", "/dev/null", "--data", upload,
            f"http://{SIMPEG}/")
    after = scrape(box)
    rx = ("pnsbox_opd_bytes_total", (("direction", "rx"), ("opd", "dinkes")))
    tx = ("pnsbox_opd_bytes_total", (("direction", "tx"), ("opd", "dinkes")))
    assert after[rx] - before[rx] > len(body) + 40
    assert 20000 < after[tx] - before[tx] < 20000 * 1.2  # the upload, plus headers: not more
    assert after[("pnsbox_config_version", ())] == ControlClient(box["socket"]).request("GET", "/status")[1]["running"]
    assert after[("pnsbox_apply_duration_seconds_count", ())] >= 1
    assert after[("pnsbox_pending_confirm_deadline_timestamp_seconds", ())] == 0
    # Every drift kind is a series from the start, and nothing in this lab drifted.
    assert after[("pnsbox_drift_repairs_total", (("what", "ruleset"),))] == 0
    assert after[("pnsbox_drift_repairs_total", (("what", "rules"),))] == 0
    assert after[("process_resident_memory_bytes", ())] > 10_000_000


def test_an_unconfirmed_change_reverts_and_the_traffic_matrix_with_it(box):
    """Without it-support, diskominfo loses its way into the other OPDs; unconfirmed, it comes back."""
    it_support = [["tcp", "10.21.0.2", 22], ["tcp", "10.22.0.2", 445]]

    def matrix():
        found = probe(box["lab"], "diskominfo", it_support)
        return [found[tuple(p)]["result"] for p in it_support]

    assert matrix() == ["answered", "answered"]
    narrower = edited(box, "  - {name: it-support, from: diskominfo, to: opds, action: accept}\n", "")
    cli(box, "apply", "-c", str(narrower), "--confirm", "4")
    assert matrix() == ["timeout", "timeout"]
    deadline = time.monotonic() + 10
    while matrix() != ["answered", "answered"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert matrix() == ["answered", "answered"], "the change was not rolled back"
    assert audit_actions(box)[-1] == "rollback"


def test_audit_verify_through_the_daemon_catches_an_edited_entry(box):
    assert ControlClient(box["socket"]).request("GET", "/audit/verify")[1]["intact"]
    log = Path(box["state"]) / "audit.log"
    original = log.read_text()
    try:
        log.write_text(original.replace("base with checks", "nothing to see", 1))
        verdict = ControlClient(box["socket"]).request("GET", "/audit/verify")[1]
        assert not verdict["intact"] and "entry 1: its content was changed" in verdict["problems"][0]
    finally:
        log.write_text(original)


def test_monthly_usage_keeps_what_the_counters_held_across_reloads(box):
    """The kernel's counters start again at every ruleset reload; the usage book does not."""
    from pnsbox.observe import counters

    def usage():
        return ControlClient(box["socket"]).request("GET", "/usage")[1]["opds"].get("dinkes", {}).get("tx_bytes", 0)

    def kernel():
        return counters.read(box["hub"]).opds["dinkes"]["tx"].bytes

    def upload():
        for _ in range(5):
            in_node(box["lab"], "dinkes", "curl", "-sS", "-m", "3", "-o", "/dev/null", "--data", "x" * 3000,
                    f"http://{SIMPEG}/")

    narrower = edited(box, "  - {name: it-support, from: diskominfo, to: opds, action: accept}\n", "")
    start, k0 = usage(), kernel()
    upload()
    k1 = kernel()
    assert k1 - k0 > 15000
    cli(box, "apply", "-c", str(narrower))  # a reload: the daemon samples the counters first
    assert kernel() < k1  # the kernel's counters started again
    after_first = usage()
    assert after_first - start >= k1 - k0
    upload()
    k3 = kernel()
    cli(box, "apply", "-c", str(box["site"]))
    assert usage() - after_first >= k3 > 15000  # all of it, though the counters had been reset
    # The rate series (pnsbox report) kept the same uploads across both reloads.
    report = subprocess.run([str(BIN / "pnsbox"), "report", "--csv", "--state-dir", box["state"]],
                            capture_output=True, text=True, check=True).stdout
    assert report.splitlines()[0].startswith("month,opd,direction,bytes,average_bps,p95_bps,peak_bps")
    rows = {tuple(line.split(",")[1:3]): int(line.split(",")[3]) for line in report.splitlines()[1:]}
    assert (k1 - k0) + k3 <= rows[("dinkes", "up")] <= usage()

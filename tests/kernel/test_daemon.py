"""A real pnsboxd process managing a namespace: commit-confirm, drift repair, restart."""

import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest
from labkit import EXAMPLE, ROOT

from pnsbox.apply import nft

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)

BIN = ROOT / ".venv" / "bin"
DEVICES = ["wan0", "opd-dinkes", "opd-bappeda", "lan0.130", "dc0"]
IT_SUPPORT = "  - {name: it-support, from: diskominfo, to: opds, action: accept}\n"


@pytest.fixture
def box(tmp_path):
    """A hub namespace, a state directory, and a way to start (and kill) pnsboxd on it."""
    tag = uuid.uuid4().hex[:6]
    hub, sink = f"pnsd-{tag}", f"pnsd-{tag}-s"
    subprocess.run(["ip", "netns", "add", hub], check=True)
    subprocess.run(["ip", "netns", "add", sink], check=True)
    for i, device in enumerate(DEVICES):
        subprocess.run(["ip", "-n", hub, "link", "add", "name", device, "type", "veth", "peer", "name",
                        f"p{i}", "netns", sink], check=True)
    procs = []
    socket_path = str(tmp_path / "control.sock")

    def start():
        proc = subprocess.Popen([str(BIN / "pnsboxd"), "--state-dir", str(tmp_path / "state"), "--socket",
                                 socket_path, "--netns", hub], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        for _ in range(100):
            if os.path.exists(socket_path):
                return proc
            time.sleep(0.05)
        raise AssertionError("pnsboxd did not open its socket")

    site = tmp_path / "site"
    shutil.copytree(EXAMPLE, site)
    try:
        yield {"hub": hub, "socket": socket_path, "start": start, "site": site, "state": str(tmp_path / "state")}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        subprocess.run(["ip", "netns", "del", hub])
        subprocess.run(["ip", "netns", "del", sink])


def pnsbox(box, *args):
    proc = subprocess.run([str(BIN / "pnsbox"), *args, "--socket", box["socket"]], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def change_site(box):
    main = box["site"] / "pnsbox.yaml"
    main.write_text(main.read_text().replace(IT_SUPPORT, ""))


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.1)
    return None


def test_an_unconfirmed_change_reverts_on_time_and_a_confirmed_one_stays(box):
    box["start"]()
    pnsbox(box, "apply", "-c", str(EXAMPLE), "-m", "base")
    base = nft.running_digest(box["hub"])
    change_site(box)
    pnsbox(box, "apply", "-c", str(box["site"]), "--confirm", "2")
    changed = nft.running_digest(box["hub"])
    assert changed != base
    applied_at = time.monotonic()
    reverted_at = wait_for(lambda: nft.running_digest(box["hub"]) == base, 6)
    assert reverted_at and 1.5 <= reverted_at - applied_at <= 4.0  # on time, not before

    pnsbox(box, "apply", "-c", str(box["site"]), "--confirm", "2")
    pnsbox(box, "confirm")
    time.sleep(3)
    assert nft.running_digest(box["hub"]) == changed  # confirmed: it stays
    trail = subprocess.run([str(BIN / "pnsbox"), "audit", "--state-dir", box["state"]], capture_output=True,
                           text=True).stdout
    assert [line.split()[3] for line in trail.splitlines()] == ["apply", "apply", "rollback", "apply", "confirm"]


def test_a_deleted_table_is_repaired_within_five_seconds(box):
    box["start"]()
    pnsbox(box, "apply", "-c", str(EXAMPLE))
    digest = nft.running_digest(box["hub"])
    subprocess.run(["ip", "netns", "exec", box["hub"], "nft", "delete", "table", "inet", "pnsbox"], check=True)
    deleted_at = time.monotonic()
    repaired_at = wait_for(lambda: nft.running_digest(box["hub"]) == digest, 5)
    assert repaired_at and repaired_at - deleted_at < 5


def test_a_pending_deadline_survives_a_killed_daemon(box):
    daemon = box["start"]()
    pnsbox(box, "apply", "-c", str(EXAMPLE))
    base = nft.running_digest(box["hub"])
    change_site(box)
    pnsbox(box, "apply", "-c", str(box["site"]), "--confirm", "3")
    daemon.send_signal(signal.SIGKILL)
    daemon.wait()
    assert nft.running_digest(box["hub"]) != base  # the change is still live, unconfirmed
    box["start"]()  # a new daemon reads the pending deadline from the state directory
    assert wait_for(lambda: nft.running_digest(box["hub"]) == base, 8), "the deadline did not fire after restart"


def test_the_daemon_switches_time_of_day_plans(box):
    """bappeda's office-hours plan (60/300mbit) replaces its base plan (30/100mbit) while open."""
    from datetime import UTC, datetime

    from pnsbox.apply import tc
    from pnsbox.daemon.core import Daemon

    daemon = Daemon(box["state"], box["hub"])
    daemon.apply_site(str(EXAMPLE), "ani", "local", "base")
    bappeda = 0x120  # slot 2 in the example's order

    def rates():
        return tc.observe(box["hub"])[0]["pnsbox-dl"].classes[bappeda].ceil

    daemon.tick(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # Monday 09:00 in Jakarta: office hours
    assert rates() == 300_000_000
    daemon.tick(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))  # Monday 19:00 in Jakarta
    assert rates() == 100_000_000

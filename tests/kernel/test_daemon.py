"""A real pnsboxd process managing a namespace: commit-confirm, drift repair, restart."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from labkit import EXAMPLE, ROOT, delete_netns, wait_for

from pnsbox.observe import table
from pnsbox.store import site_files

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
        if os.path.exists(socket_path):  # a killed daemon leaves its socket behind
            os.unlink(socket_path)
        proc = subprocess.Popen([str(BIN / "pnsboxd"), "--state-dir", str(tmp_path / "state"), "--socket",
                                 socket_path, "--netns", hub, "--metrics-listen", "off"], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        deadline = time.monotonic() + 30  # a restart finishes a cut-off apply first; CI machines may be loaded
        while time.monotonic() < deadline:
            if os.path.exists(socket_path):
                return proc
            if proc.poll() is not None:
                raise AssertionError(f"pnsboxd exited {proc.returncode}: {proc.stdout.read()}")
            time.sleep(0.05)
        raise AssertionError("pnsboxd did not open its socket in 30 s")

    site = tmp_path / "site"
    shutil.copytree(EXAMPLE, site)
    try:
        yield {"hub": hub, "socket": socket_path, "start": start, "site": site, "state": str(tmp_path / "state")}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        delete_netns(hub)
        subprocess.run(["ip", "netns", "del", sink])


def pnsbox(box, *args):
    proc = subprocess.run([str(BIN / "pnsbox"), *args, "--socket", box["socket"]], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def change_site(box):
    main = box["site"] / "pnsbox.yaml"
    main.write_text(main.read_text().replace(IT_SUPPORT, ""))


def test_an_unconfirmed_change_reverts_on_time_and_a_confirmed_one_stays(box):
    box["start"]()
    pnsbox(box, "apply", "-c", str(EXAMPLE), "-m", "base")
    base = table.running_digest(box["hub"])
    change_site(box)
    pnsbox(box, "apply", "-c", str(box["site"]), "--confirm", "2")
    changed = table.running_digest(box["hub"])
    assert changed != base
    applied_at = time.monotonic()
    reverted_at = wait_for(lambda: table.running_digest(box["hub"]) == base, 6)
    assert reverted_at and 1.5 <= reverted_at - applied_at <= 4.0  # on time, not before

    pnsbox(box, "apply", "-c", str(box["site"]), "--confirm", "2")
    pnsbox(box, "confirm")
    time.sleep(3)
    assert table.running_digest(box["hub"]) == changed  # confirmed: it stays
    trail = subprocess.run([str(BIN / "pnsbox"), "audit", "--state-dir", box["state"]], capture_output=True,
                           text=True).stdout
    assert [line.split()[3] for line in trail.splitlines()] == ["apply", "apply", "rollback", "apply", "confirm"]


def test_a_deleted_table_is_repaired_within_five_seconds(box):
    box["start"]()
    pnsbox(box, "apply", "-c", str(EXAMPLE))
    digest = table.running_digest(box["hub"])
    subprocess.run(["ip", "netns", "exec", box["hub"], "nft", "delete", "table", "inet", "pnsbox"], check=True)
    deleted_at = time.monotonic()
    repaired_at = wait_for(lambda: table.running_digest(box["hub"]) == digest, 5)
    assert repaired_at and repaired_at - deleted_at < 5


def test_a_pending_deadline_survives_a_killed_daemon(box):
    daemon = box["start"]()
    pnsbox(box, "apply", "-c", str(EXAMPLE))
    base = table.running_digest(box["hub"])
    change_site(box)
    pnsbox(box, "apply", "-c", str(box["site"]), "--confirm", "3")
    daemon.send_signal(signal.SIGKILL)
    daemon.wait()
    assert table.running_digest(box["hub"]) != base  # the change is still live, unconfirmed
    box["start"]()  # a new daemon reads the pending deadline from the state directory
    assert wait_for(lambda: table.running_digest(box["hub"]) == base, 8), "the deadline did not fire after restart"


def test_the_daemon_switches_time_of_day_plans(box):
    """bappeda's office-hours plan (60/300mbit) replaces its base plan (30/100mbit) while open."""
    from datetime import UTC, datetime

    from pnsbox.daemon.core import Daemon, Request
    from pnsbox.observe import tc

    daemon = Daemon(box["state"], box["hub"])
    daemon.apply_site(str(EXAMPLE), Request("ani"), "base")
    bappeda = 0x120  # slot 2 in the example's order

    def rates():
        return tc.observe(box["hub"])[0]["pnsbox-dl"].classes[bappeda].ceil

    daemon.tick(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # Monday 09:00 in Jakarta: office hours
    assert rates() == 300_000_000
    daemon.tick(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))  # Monday 19:00 in Jakarta
    assert rates() == 100_000_000


def test_changed_classes_links_and_addresses_are_repaired_within_five_seconds(box):
    from pnsbox.observe import tc

    box["start"]()
    pnsbox(box, "apply", "-c", str(EXAMPLE))
    hub = box["hub"]
    bappeda = 0x120
    before = tc.observe(hub)[0]["pnsbox-dl"].classes[bappeda]

    def run(*argv):
        subprocess.run(["ip", "netns", "exec", hub, *argv], check=True)

    run("tc", "class", "change", "dev", "pnsbox-dl", "classid", "1:120", "htb", "rate", "1mbit", "ceil", "2mbit")
    changed_at = time.monotonic()
    repaired = wait_for(lambda: tc.observe(hub)[0]["pnsbox-dl"].classes[bappeda].ceil == before.ceil, 5)
    assert repaired and repaired - changed_at < 5

    run("ip", "link", "del", "pnsbox-ul")  # the upload IFB, with its whole tree
    run("ip", "addr", "del", "10.21.0.1/24", "dev", "opd-dinkes")
    removed_at = time.monotonic()

    def whole_again():
        addresses = subprocess.run(["ip", "-n", hub, "-4", "addr", "show", "dev", "opd-dinkes"],
                                   capture_output=True, text=True).stdout
        return "10.21.0.1/24" in addresses and tc.observe(hub)[0].get("pnsbox-ul") and \
            tc.observe(hub)[0]["pnsbox-ul"].classes.get(bappeda)
    repaired = wait_for(whole_again, 5)
    assert repaired and repaired - removed_at < 5
    trail = subprocess.run([str(BIN / "pnsbox"), "audit", "--state-dir", box["state"]], capture_output=True,
                           text=True).stdout
    assert trail.count("drift-repair") >= 2 and "tc" in trail


def test_an_apply_goes_through_while_a_drift_check_reads_the_kernel_and_its_stale_finding_repairs_nothing(
        box, monkeypatch):
    """The drift check's full read of the kernel (0.2-0.8 s at 1,000 OPDs) runs without the apply
    lock. What it found before an apply changed the kernel is not acted on; the next check is."""
    from pnsbox.daemon import core
    from pnsbox.observe import tc

    daemon = core.Daemon(box["state"], box["hub"])
    daemon.apply_site(str(box["site"]), core.Request("ani"), "base")
    reading, go_on, found = threading.Event(), threading.Event(), []
    real_plan = core.plan

    def held_plan(*args, **kwargs):  # the check's read of the kernel, held until the apply is done
        steps = real_plan(*args, **kwargs)
        reading.set()
        go_on.wait(10)
        return steps

    def ceiling():
        return tc.observe(box["hub"])[0]["pnsbox-dl"].classes[0x120].ceil  # bappeda's

    configured = ceiling()
    monkeypatch.setattr(core, "plan", held_plan)
    subprocess.run(["ip", "netns", "exec", box["hub"], "tc", "class", "change", "dev", "pnsbox-dl", "classid", "1:120",
                    "htb", "rate", "1mbit", "ceil", "2mbit"], check=True)  # drift: bappeda's class
    checker = threading.Thread(target=lambda: found.append(daemon.tick()))
    checker.start()
    assert reading.wait(10), "the drift check did not read the kernel"
    change_site(box)  # a policy less: the table is replaced, the classes are not read back
    started = time.monotonic()
    reply = daemon.apply_site(str(box["site"]), core.Request("ani"), "it-support goes")
    assert reply["version"] == 2 and time.monotonic() - started < 5  # not held up by the check
    go_on.set()
    checker.join(10)
    assert found == [None]  # seen before the apply: not repaired on that sight
    daemon.full_drift_at = 0.0
    daemon.tick()  # the next check compares what runs now (the apply may have put the class back itself)
    assert ceiling() == configured
    assert daemon.running() == 2 and daemon.tick() is None


def test_sigkill_during_an_apply_leaves_the_old_or_the_new_config_never_a_mix(box):
    """Kill the daemon at moments spread over an apply; after a restart the kernel runs exactly
    one version (a plan of it finds nothing to change), the history and audit trail are whole,
    and a confirm deadline set before the crash still fires."""
    from pnsbox.apply.pipeline import plan
    from pnsbox.daemon.core import config_of
    from pnsbox.store import AuditLog, History

    daemon = box["start"]()
    pnsbox(box, "apply", "-c", str(EXAMPLE), "-m", "base")
    base = table.running_digest(box["hub"])
    change_site(box)
    changed = build_digest(box, box["site"])
    state = Path(box["state"])
    cut_off = 0
    for delay in (0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2):
        site = box["site"] if table.running_digest(box["hub"]) == base else EXAMPLE  # always a real change
        client = threading.Thread(target=_apply_ignoring_errors, args=(box["socket"], str(site)))
        client.start()
        time.sleep(delay)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        cut_off += (state / "applying.json").exists()
        client.join()
        daemon = box["start"]()
        running = History(box["state"]).get(_status(box)["running"])
        assert table.running_digest(box["hub"]) in (base, changed)
        assert plan(config_of(running.files), box["hub"], box["state"]).steps == [], f"a mix after {delay} s"
        assert AuditLog(box["state"]).verify() == []
        History(box["state"]).versions()  # every version still reads
    assert cut_off >= 1, "no kill landed inside an apply: the test proved nothing"
    # The deadline set by the last apply (30 s) survives; shorten it to see it fire.
    pnsbox(box, "apply", "-c", str(box["site"] if table.running_digest(box["hub"]) == base else EXAMPLE),
           "--confirm", "2")
    daemon.send_signal(signal.SIGKILL)
    daemon.wait()
    box["start"]()
    assert wait_for(lambda: _status(box)["pending"] is None, 8), "the deadline did not fire after the crash"


def _apply_ignoring_errors(socket_path: str, site: str) -> None:
    from pnsbox.control.client import ControlClient
    from pnsbox.store import site_files

    with contextlib.suppress(OSError):  # the daemon died under it: that is the point
        ControlClient(socket_path).request("POST", "/apply", {"files": site_files(site), "confirm": 30, "author": "test"})


def _status(box) -> dict:
    from pnsbox.control.client import ControlClient

    return ControlClient(box["socket"]).request("GET", "/status")[1]


def build_digest(box, site) -> str:
    from pnsbox.apply.pipeline import render_for
    from pnsbox.load import load_site
    from pnsbox.validate import build

    return render_for(build(load_site(site)), box["hub"], box["state"]).ruleset.digest


def test_the_daemon_tells_systemd_it_is_ready_and_alive(box, tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify"))
    listener.settimeout(10)
    os.environ["NOTIFY_SOCKET"] = str(tmp_path / "notify")
    try:
        box["start"]()
    finally:
        del os.environ["NOTIFY_SOCKET"]
    messages = [listener.recv(256).decode() for _ in range(2)]
    assert messages == ["READY=1", "WATCHDOG=1"]  # ready once the socket serves, then alive every tick


def test_the_boot_file_loads_the_confirmed_ruleset_with_plain_nft(box):
    box["start"]()
    pnsbox(box, "apply", "-c", str(EXAMPLE))
    confirmed = table.running_digest(box["hub"])
    change_site(box)
    pnsbox(box, "apply", "-c", str(box["site"]), "--confirm", "30")  # pending: not for the boot file
    fresh = f"pnsd-boot-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", fresh], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", fresh, "nft", "-f", f"{box['state']}/boot.nft"], check=True,
                       env={**os.environ, "TZ": "UTC"})
        assert table.running_digest(fresh) == confirmed
    finally:
        subprocess.run(["ip", "netns", "del", fresh])


def test_rules_and_elements_slipped_into_the_table_are_removed_within_five_seconds(box):
    """The table's comment (and so its digest) stays; the table's fingerprint catches them."""
    box["start"]()
    pnsbox(box, "apply", "-c", str(EXAMPLE))
    time.sleep(2.5)  # a quiet drift check takes the table's fingerprint

    def rules():
        return subprocess.run(["ip", "netns", "exec", box["hub"], "nft", "list", "chain", "inet", "pnsbox",
                               "input"], capture_output=True, text=True).stdout

    subprocess.run(["ip", "netns", "exec", box["hub"], "nft", "insert", "rule", "inet", "pnsbox", "input",
                    "tcp", "dport", "23", "accept", "comment", '"backdoor"'], check=True)
    slipped_at = time.monotonic()
    assert "backdoor" in rules()
    removed_at = wait_for(lambda: "backdoor" not in rules(), 5)
    assert removed_at and removed_at - slipped_at < 5
    # An element slipped into a zone set: dinkes' subnet made part of diskominfo (the IT office's rights).
    time.sleep(2.5)

    def diskominfo():
        return subprocess.run(["ip", "netns", "exec", box["hub"], "nft", "list", "set", "inet", "pnsbox",
                               "zone_diskominfo"], capture_output=True, text=True).stdout

    subprocess.run(["ip", "netns", "exec", box["hub"], "nft", "add", "element", "inet", "pnsbox", "zone_diskominfo",
                    '{ "opd-dinkes" . 10.21.0.0/24 }'], check=True)
    slipped_at = time.monotonic()
    assert "opd-dinkes" in diskominfo()
    removed_at = wait_for(lambda: "opd-dinkes" not in diskominfo(), 5)
    assert removed_at and removed_at - slipped_at < 5
    # Another table's change is not ours: no repair for it (once the repaired table's fingerprint is taken).
    time.sleep(2.5)
    repairs = _status(box)["drift_repairs"]
    subprocess.run(["ip", "netns", "exec", box["hub"], "nft", "add", "table", "inet", "someone_else"], check=True)
    time.sleep(3)
    assert _status(box)["drift_repairs"] == repairs


def test_a_first_apply_cut_off_is_completed_at_restart(box):
    """With nothing before it, "the old config" is none: the restarted daemon finishes the new one."""
    from pnsbox.apply.pipeline import plan
    from pnsbox.daemon.core import config_of
    from pnsbox.store import History

    state = Path(box["state"])
    daemon = box["start"]()
    client = threading.Thread(target=_first_apply, args=(box["socket"], str(EXAMPLE)))
    client.start()
    landed = wait_for(lambda: (state / "applying.json").exists(), 10, step=0.001)  # the kernel is next
    daemon.send_signal(signal.SIGKILL)
    daemon.wait()
    client.join()
    assert landed and (state / "applying.json").exists(), "the apply finished before the kill"
    box["start"]()
    running = _status(box)["running"]
    assert running and History(box["state"]).get(running).files == site_files(EXAMPLE)
    assert plan(config_of(History(box["state"]).get(running).files), box["hub"], box["state"]).steps == []


def _first_apply(socket_path: str, site: str) -> None:
    from pnsbox.control.client import ControlClient

    with contextlib.suppress(OSError):
        ControlClient(socket_path).request("POST", "/apply", {"files": site_files(site), "author": "test"})


def test_a_first_apply_that_fails_its_checks_stays_and_is_watched(box):
    box["start"]()
    main = box["site"] / "pnsbox.yaml"
    main.write_text(main.read_text() + "\nchecks:\n  tcp: [10.0.10.10:9]\n  timeout: 1\n")  # nobody answers
    proc = subprocess.run([str(BIN / "pnsbox"), "apply", "-c", str(box["site"]), "--socket", box["socket"]],
                          capture_output=True, text=True)
    assert proc.returncode == 3 and "no earlier version to go back to: the change stays" in proc.stderr
    status = _status(box)
    assert status["running"] == status["confirmed"] == 1  # what runs is known, so drift repair guards it
    assert status["last_check_failures"] and "10.0.10.10:9" in status["last_check_failures"][0]


def test_the_daemon_owns_its_state_directory_and_its_authors_own_their_pending_changes(box, tmp_path):
    from pnsbox.control.client import ControlClient

    box["start"]()
    pnsbox(box, "apply", "-c", str(EXAMPLE), "-m", "base")
    change_site(box)
    pnsbox(box, "apply", "-c", str(box["site"]), "--confirm", "300", "--author", "ani")
    files = site_files(EXAMPLE)
    as_operator = {"author": "budi", "from": "web:10.21.0.9", "port": "tcp/443", "role": "operator"}
    status, reply = ControlClient(box["socket"]).request("POST", "/apply", {**as_operator, "files": files, "confirm": 120})
    assert status == 403 and "version 2 of ani waits for its confirm" in reply["error"]
    assert ControlClient(box["socket"]).request("POST", "/confirm", as_operator)[0] == 403
    assert ControlClient(box["socket"]).request("POST", "/rollback", {**as_operator, "version": 1})[0] == 403
    assert ControlClient(box["socket"]).request("GET", "/status")[1]["pending"]["version"] == 2

    # No socket named, so in process: refused, naming the daemon's socket; nothing of the daemon's touched.
    other = subprocess.run([str(BIN / "pnsbox"), "apply", "-c", str(EXAMPLE), "--netns", box["hub"], "--state-dir",
                            box["state"], "--socket", str(tmp_path / "none.sock")], capture_output=True, text=True)
    assert other.returncode == 4
    assert f"which listens on {box['socket']}: go through it with --socket {box['socket']}" in other.stderr
    assert ControlClient(box["socket"]).request("GET", "/status")[1]["pending"]["version"] == 2
    assert len(ControlClient(box["socket"]).request("GET", "/history")[1]) == 2

    # A second daemon on the same directory, or on a directory of another namespace, does not start.
    second = subprocess.run([str(BIN / "pnsboxd"), "--state-dir", box["state"], "--socket",
                             str(tmp_path / "second.sock"), "--netns", box["hub"], "--metrics-listen", "off"],
                            capture_output=True, text=True, timeout=30)
    assert second.returncode == 1 and "belongs to pnsboxd" in second.stderr
    elsewhere = subprocess.run([str(BIN / "pnsbox"), "history", "--state-dir", box["state"]], capture_output=True,
                               text=True)
    assert elsewhere.returncode == 0  # reading is for anyone with the rights
    pnsbox(box, "confirm", "--author", "ani")


def test_an_apply_refused_while_planning_leaves_no_journal_and_the_box_settled(box):
    """A link the box lacks is refused before the kernel is touched: no cut-off apply is left
    for the next start to recover, and an unchanged apply is still answered from the record."""
    box["start"]()
    pnsbox(box, "apply", "-c", str(box["site"]))
    ghost = box["site"] / "opds" / "ghost.yaml"
    ghost.write_text("ghost:\n  name: Dinas Hantu\n  subnet: 10.77.0.0/24\n  link: {interface: ghost0}\n"
                     "  bandwidth: {guaranteed: 1mbit, ceiling: 2mbit}\n")
    refused = subprocess.run([str(BIN / "pnsbox"), "apply", "-c", str(box["site"]), "--socket", box["socket"]],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "ghost0" in refused.stderr, refused.stderr
    assert not Path(box["state"], "applying.json").exists()
    ghost.unlink()
    assert "nothing to change" in pnsbox(box, "apply", "-c", str(box["site"]))

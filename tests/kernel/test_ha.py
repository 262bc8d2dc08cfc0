"""An HA pair on the real kernel: keepalived and conntrackd started by apply in two hub
namespaces this module builds (named as a lab's, so `--lab` and `lab down` find them), joined by
a veth as the sync link, their other links plugged into bridges of a third namespace."""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from labkit import wait_for

from pnsbox.lab.topology import LABEL, lab_down, netns_name
from pnsbox.observe import ha as observe_ha
from pnsbox.observe import table

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
PEERS = ("hub-a", "hub-b")
VIRTUAL = [("wan0", "203.0.113.2/24"), ("opd0", "10.21.0.1/24")]
SITE = """
site:
  name: pair
  uplink: {interface: wan0, address: 203.0.113.2/24, gateway: 203.0.113.1, bandwidth: 100mbit}
  ha:
    peers: {hub-a: 10.254.0.1, hub-b: 10.254.0.2}
    sync: {interface: sync0}
    ADVERT
  management: {from: [dinkes], ports: [tcp/22]}
opds:
  dinkes: {name: Dinas Kesehatan, subnet: 10.21.0.0/24, link: {interface: opd0}}
policies:
  - {name: internet, from: opds, to: internet, action: accept}
"""
FLOW = ["-s", "10.21.0.50", "-d", "198.51.100.99", "-p", "tcp", "--sport", "40000", "--dport", "80"]


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


def pnsbox(*args) -> str:
    proc = subprocess.run([sys.executable, "-m", "pnsbox.cli", *args], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def write_site(directory: Path, advert: str = "") -> Path:
    directory.mkdir(exist_ok=True)
    (directory / "pnsbox.yaml").write_text(SITE.replace("ADVERT", advert))
    return directory


def holds(netns: str) -> bool:
    """The hub has every virtual address (a mix that lasts fails the test: they move together).

    keepalived adds or removes them one after another, so a read can land between two of them;
    a mix still there 0.5 s later is a fault, not a transition."""
    deadline = time.monotonic() + 0.5
    while True:
        out = subprocess.run(["ip", "-n", netns, "-4", "-o", "addr"], capture_output=True, text=True).stdout
        present = [f"{device}    inet {cidr}" in out for device, cidr in VIRTUAL]
        if all(present) or not any(present) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert all(present) or not any(present), f"{netns} holds some of the virtual addresses only:\n{out}"
    return all(present)


def default_route(netns: str) -> str:
    return subprocess.run(["ip", "-n", netns, "route", "show", "default"], capture_output=True, text=True).stdout


def role_file(netns: str) -> dict:
    return observe_ha.read_role_file(f"/run/pnsbox/ha/{netns}")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two hub namespaces and a switch namespace of a lab, the HA site applied to both with
    `pnsbox apply --lab`; the lab is taken down afterwards, whatever happened."""
    lab = f"ha{uuid.uuid4().hex[:6]}"
    hubs = {peer: netns_name(lab, peer) for peer in PEERS}
    switch = netns_name(lab, "sw")
    tmp = tmp_path_factory.mktemp("ha")
    try:
        for ns in [*hubs.values(), switch]:
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", "lo", "alias", f"{LABEL}{lab}")  # a lab's node, for lab fail and heal
        ip("-n", hubs["hub-a"], "link", "add", "sync0", "type", "veth", "peer", "name", "sync0", "netns", hubs["hub-b"])
        for bridge in ("br-opd", "br-wan"):
            ip("-n", switch, "link", "add", bridge, "type", "bridge")
            ip("-n", switch, "link", "set", bridge, "up")
        for i, ns in enumerate(hubs.values()):
            for device, bridge in (("opd0", "br-opd"), ("wan0", "br-wan")):
                ip("-n", ns, "link", "add", device, "type", "veth", "peer", "name", f"h{i}-{device}", "netns", switch)
                ip("-n", switch, "link", "set", f"h{i}-{device}", "master", bridge, "up")
        site = write_site(tmp / "site")
        started = time.monotonic()
        out = pnsbox("apply", "-c", str(site), "--lab", lab, "--state-dir", str(tmp / "state"))
        applied = time.monotonic() - started
        yield {"lab": lab, "hubs": hubs, "site": site, "state": tmp / "state", "out": out, "applied": applied}
    finally:
        lab_down(lab)


def active_and_standby(pair) -> tuple[str, str]:
    hubs = pair["hubs"]
    assert wait_for(lambda: sum(holds(ns) for ns in hubs.values()) == 1, 10), "no hub took the addresses"
    active = next(peer for peer, ns in hubs.items() if holds(ns))
    return active, next(peer for peer in hubs if peer != active)


def test_applying_an_ha_site_to_a_lab_starts_both_hubs_and_exactly_one_holds_the_addresses(pair):
    hubs = pair["hubs"]
    for peer, ns in hubs.items():
        assert f"# {peer} ({ns})" in pair["out"]
        running = observe_ha.running(observe_ha.ha_paths(ns, ""))
        assert running.keepalived_pid and running.conntrackd_pid, peer
        assert "sync0" in subprocess.run(["ip", "-n", ns, "-o", "addr", "show", "to", f"10.254.0.{PEERS.index(peer) + 1}"],
                                         capture_output=True, text=True).stdout
    active, standby = active_and_standby(pair)
    assert active == "hub-a"  # the first peer is preferred when both start together
    assert wait_for(lambda: role_file(hubs[active]).get("role") == "active" and
                    role_file(hubs[standby]).get("role") == "standby", 5), (role_file(hubs[active]),
                                                                            role_file(hubs[standby]))
    # one ruleset for the pair: the same digest in both kernels
    assert table.running_digest(hubs["hub-a"]) == table.running_digest(hubs["hub-b"]) is not None
    status = pnsbox("ha", "status", "--lab", pair["lab"], "--state-dir", str(pair["state"]))
    assert f"{active}: active since" in status and "holds the virtual addresses" in status
    # a namespace has no syslog: what keepalived, conntrackd and the hook said is in the run directory
    run = Path(observe_ha.ha_paths(hubs[active], "").run_dir)
    assert wait_for(lambda: "Entering MASTER STATE" in (run / "keepalived.log").read_text(), 3)
    assert "active: conntrackd -c, -f, -R, -B: ok" in (run / "notify.log").read_text()
    assert (run / "conntrackd.log").stat().st_size > 0
    assert f"{standby}: standby since" in status and "holds no virtual address" in status


LISTEN = """
import socket, sys
socks = []
for port in map(int, sys.argv[2:]):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], port)); s.listen()
    socks.append(s)
print("ready", flush=True)
sys.stdin.read()
"""
CONNECT = """
import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 0)); s.settimeout(1.0); s.connect((sys.argv[2], int(sys.argv[3])))
"""


def connects(netns: str, source: str, destination: str, port: int) -> bool:
    return subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", CONNECT, source, destination, str(port)],
                          capture_output=True).returncode == 0


def test_the_sync_link_lets_in_the_peer_alone_for_the_pair_and_for_management(pair):
    """pnsboxd's peer port and the management port (the standby holds no gateway address, so an
    admin goes through the active hub) from the peer's address; from another one on the same
    cable, nothing."""
    hubs = pair["hubs"]
    ip("-n", hubs["hub-b"], "addr", "add", "10.254.0.9/24", "dev", "sync0")
    listener = subprocess.Popen(["ip", "netns", "exec", hubs["hub-a"], sys.executable, "-c", LISTEN, "10.254.0.1",
                                 "22", "7443"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "ready"
        for port in (22, 7443):
            assert connects(hubs["hub-b"], "10.254.0.2", "10.254.0.1", port), port
            assert not connects(hubs["hub-b"], "10.254.0.9", "10.254.0.1", port), port
    finally:
        listener.kill()
        listener.wait()
        ip("-n", hubs["hub-b"], "addr", "del", "10.254.0.9/24", "dev", "sync0")


def test_an_unchanged_apply_changes_nothing_and_a_changed_one_reloads_keepalived_without_a_failover(pair):
    hubs = pair["hubs"]
    active, _ = active_and_standby(pair)
    again = pnsbox("apply", "-c", str(pair["site"]), "--lab", pair["lab"], "--state-dir", str(pair["state"]))
    assert again.count("nothing to change") == 2, again
    before = {peer: observe_ha.running(observe_ha.ha_paths(ns, "")) for peer, ns in hubs.items()}
    transitions = role_file(hubs[active])["transitions"]
    write_site(pair["site"], "advert_interval: 0.4")
    changed = pnsbox("apply", "-c", str(pair["site"]), "--lab", pair["lab"], "--state-dir", str(pair["state"]))
    assert changed.count("~ keepalived: write") == 2 and "conntrackd" not in changed, changed
    time.sleep(1.0)  # a reload that dropped the state would show as a new election by now
    for peer, ns in hubs.items():
        after = observe_ha.running(observe_ha.ha_paths(ns, ""))
        assert after.keepalived_pid == before[peer].keepalived_pid  # reloaded (SIGHUP), not restarted
        assert after.conntrackd_pid == before[peer].conntrackd_pid
        assert "advert_int 0.4" in after.keepalived_conf
    assert holds(hubs[active]) and role_file(hubs[active])["transitions"] == transitions


def external_cache(netns: str) -> str:
    return subprocess.run(["ip", "netns", "exec", netns, "conntrackd", "-C", f"/run/pnsbox/ha/{netns}/conntrackd.conf",
                           "-e"], capture_output=True, text=True).stdout


def test_a_hand_edited_keepalived_conf_is_written_again_by_the_next_apply(pair):
    hubs = pair["hubs"]
    _, standby = active_and_standby(pair)
    conf = Path(observe_ha.ha_paths(hubs[standby], "").keepalived_conf)
    rendered = conf.read_text()
    time.sleep(0.01)  # a later modification time than the apply's record, whatever the clock's grain
    conf.write_text(rendered.replace("advert_int", "advert_int 2 # edited by hand\n    advert_int"))
    out = pnsbox("apply", "-c", str(pair["site"]), "--lab", pair["lab"], "--state-dir", str(pair["state"]))
    assert out.count("~ keepalived: write") == 1 and out.count("nothing to change") == 1, out
    assert conf.read_text() == rendered


def test_a_killed_conntrackd_is_started_again_by_the_next_apply_and_gets_the_peers_flows_back(pair):
    hubs = pair["hubs"]
    active, standby = active_and_standby(pair)
    old = ["-s", "10.21.0.51", "-d", "198.51.100.99", "-p", "tcp", "--sport", "40001", "--dport", "80"]
    subprocess.run(["ip", "netns", "exec", hubs[active], "conntrack", "-I", *old, "--state", "ESTABLISHED",
                    "-t", "300", "-u", "SEEN_REPLY,ASSURED"], check=True, capture_output=True)
    assert wait_for(lambda: "10.21.0.51" in external_cache(hubs[standby]), 3, 0.1)
    paths = observe_ha.ha_paths(hubs[standby], "")
    os.kill(observe_ha.running(paths).conntrackd_pid, 9)  # its lock file stays behind
    assert wait_for(lambda: observe_ha.running(paths).conntrackd_pid is None, 3)
    out = pnsbox("apply", "-c", str(pair["site"]), "--lab", pair["lab"], "--state-dir", str(pair["state"]))
    assert out.count("~ conntrackd: start") == 1 and out.count("nothing to change") == 1, out
    assert observe_ha.running(paths).conntrackd_pid is not None
    # a flow the active hub made before the restart, which no event will announce again
    assert wait_for(lambda: "10.21.0.51" in external_cache(hubs[standby]), 3, 0.1), "the restarted conntrackd lacks it"


def test_cutting_the_active_hub_off_moves_every_address_and_its_connections_to_the_other_within_3_s(pair):
    hubs = pair["hubs"]
    active, standby = active_and_standby(pair)
    # a connection the active hub carries: conntrackd sends it to the standby's external cache
    subprocess.run(["ip", "netns", "exec", hubs[active], "conntrack", "-I", *FLOW, "--state", "ESTABLISHED",
                    "-t", "300", "-u", "SEEN_REPLY,ASSURED"], check=True, capture_output=True)
    conf = f"/run/pnsbox/ha/{hubs[standby]}/conntrackd.conf"
    assert wait_for(lambda: "10.21.0.50" in subprocess.run(
        ["ip", "netns", "exec", hubs[standby], "conntrackd", "-C", conf, "-e"],
        capture_output=True, text=True).stdout, 3, 0.1), "the standby's conntrackd never got the connection"
    assert "10.21.0.50" not in subprocess.run(["ip", "netns", "exec", hubs[standby], "conntrack", "-L"],
                                              capture_output=True, text=True).stdout
    cut = time.monotonic()
    for device in ("opd0", "wan0", "sync0"):  # as `lab fail` does: every cable of the box
        ip("-n", hubs[active], "link", "set", device, "down")
    assert wait_for(lambda: holds(hubs[standby]), 3), "the addresses did not move within 3 s"
    moved = time.monotonic() - cut
    assert wait_for(lambda: role_file(hubs[standby]).get("role") == "active", 3)
    print(f"\nfailover: the virtual addresses were on {standby} {moved:.2f} s after {active}'s links went down")
    # the new active hub's kernel holds the connection the old one made (conntrackd -c at the transition)
    assert wait_for(lambda: "sport=40000" in subprocess.run(
        ["ip", "netns", "exec", hubs[standby], "conntrack", "-L", *FLOW[:4]], capture_output=True, text=True).stdout, 3)
    assert wait_for(lambda: role_file(hubs[active]).get("role") == "fault", 3)  # cut off: it let go
    assert not holds(hubs[active])
    status = pnsbox("ha", "status", "--lab", pair["lab"])
    assert f"{standby}: active since" in status and f"{active}: fault since" in status, status
    for device in ("opd0", "wan0", "sync0"):
        ip("-n", hubs[active], "link", "set", device, "up")
    # no preemption (the default): the returning hub stays standby, the addresses stay put
    assert wait_for(lambda: role_file(hubs[active]).get("role") == "standby", 5)
    time.sleep(1.0)
    assert holds(hubs[standby]) and not holds(hubs[active])
    # the kernel dropped its routes with its links; the notify hook put the default route back (no
    # apply ran), so it can carry the traffic again when it next becomes active
    assert wait_for(lambda: "via 203.0.113.1 dev wan0" in default_route(hubs[active]), 3), default_route(hubs[active])


def test_a_hub_that_lets_go_of_the_addresses_keeps_its_default_route_for_the_next_failover(pair):
    """A split brain ended by VRRP: the sync cable out, both hubs take the addresses; back in, one
    lets them go, and with them (the kernel's doing) every route through those links."""
    hubs = pair["hubs"]
    active, standby = active_and_standby(pair)
    ip("-n", hubs[standby], "link", "set", "sync0", "down")
    assert wait_for(lambda: holds(hubs[standby]), 5), "the cut-off standby did not take the addresses"
    ip("-n", hubs[standby], "link", "set", "sync0", "up")
    assert wait_for(lambda: sum(holds(ns) for ns in hubs.values()) == 1, 5), "both hubs kept the addresses"
    loser = next(peer for peer, ns in hubs.items() if not holds(ns))
    assert wait_for(lambda: "via 203.0.113.1 dev wan0" in default_route(hubs[loser]), 3), \
        f"{loser} lost its default route with the addresses"


def test_lab_fail_freezes_the_pnsboxd_of_the_cut_hub_so_its_drift_repair_does_not_undo_the_cut(pair):
    """A dead box's pnsboxd is as dead as the rest; a running one would set the links up again."""
    from pnsbox.lab.topology import lab_fail, lab_heal

    hubs = pair["hubs"]
    active, standby = active_and_standby(pair)
    state = pair["state"] / hubs[active]
    pnsbox("ha", "pair-key", "--state-dir", str(state))
    sock = str(pair["state"] / f"{active}.sock")
    daemon = subprocess.Popen([sys.executable, "-m", "pnsbox.daemon.main", "--state-dir", str(state), "--socket", sock,
                               "--netns", hubs[active], "--metrics-listen", "off", "--peer", active],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: os.path.exists(sock) or daemon.poll() is not None, 30) and daemon.poll() is None
        lab_fail(pair["lab"], active)
        assert wait_for(lambda: holds(hubs[standby]), 5)
        time.sleep(3.0)  # pnsboxd compares links every 2 s: it would have set them up by now
        up = subprocess.run(["ip", "-n", hubs[active], "-o", "link", "show", "up"], capture_output=True, text=True).stdout
        assert "wan0" not in up and "sync0" not in up, up
        assert holds(hubs[standby])
        lab_heal(pair["lab"], active)
        stat = Path(f"/proc/{daemon.pid}/stat")
        assert wait_for(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] != "T", 3)  # running again
    finally:
        daemon.terminate()
        daemon.wait(10)
    assert wait_for(lambda: role_file(hubs[active]).get("role") == "standby", 5)


def test_with_preemption_the_preferred_hub_takes_over_when_it_returns_and_the_flows_go_with_it(pair):
    hubs = pair["hubs"]
    write_site(pair["site"], "preempt: true")
    out = pnsbox("apply", "-c", str(pair["site"]), "--lab", pair["lab"], "--state-dir", str(pair["state"]))
    assert out.count("keepalived: write") == 2 and "nopreempt" not in Path(
        observe_ha.ha_paths(hubs["hub-a"], "").keepalived_conf).read_text(), out
    active_and_standby(pair)
    for device in ("opd0", "wan0", "sync0"):  # hub-a (the preferred one) dies: hub-b is active
        ip("-n", hubs["hub-a"], "link", "set", device, "down")
    assert wait_for(lambda: holds(hubs["hub-b"]), 5)
    flow = ["-s", "10.21.0.52", "-d", "198.51.100.99", "-p", "tcp", "--sport", "40002", "--dport", "80"]
    subprocess.run(["ip", "netns", "exec", hubs["hub-b"], "conntrack", "-I", *flow, "--state", "ESTABLISHED",
                    "-t", "300", "-u", "SEEN_REPLY,ASSURED"], check=True, capture_output=True)
    for device in ("opd0", "wan0", "sync0"):
        ip("-n", hubs["hub-a"], "link", "set", device, "up")
    assert wait_for(lambda: holds(hubs["hub-a"]), 10), "the preferred hub did not take over again"
    assert not holds(hubs["hub-b"])
    # the flow hub-b made while hub-a was away is in hub-a's kernel (resync, then commit)
    assert wait_for(lambda: "sport=40002" in subprocess.run(
        ["ip", "netns", "exec", hubs["hub-a"], "conntrack", "-L", *flow[:4]], capture_output=True, text=True).stdout, 3)
    assert wait_for(lambda: role_file(hubs["hub-a"]).get("role") == "active", 3)


def test_a_hub_whose_site_is_no_longer_a_pair_stops_keepalived_and_keeps_the_gateway_addresses(pair):
    """keepalived takes its addresses away as it stops (and the kernel the routes through them):
    the apply that ends the pair stops it first, then gives the hub the addresses as its own."""
    hubs = pair["hubs"]
    active, _ = active_and_standby(pair)
    single = pair["site"].parent / "single"
    single.mkdir(exist_ok=True)
    (single / "pnsbox.yaml").write_text("\n".join(line for line in SITE.splitlines()
                                                  if not line.startswith(("  ha:", "    "))))
    out = pnsbox("apply", "-c", str(single), "--netns", hubs[active], "--state-dir", str(pair["state"] / hubs[active]))
    assert "- keepalived: stop" in out, out
    paths = observe_ha.ha_paths(hubs[active], "")
    assert observe_ha.process_of("keepalived", paths.keepalived_conf) is None
    time.sleep(0.5)  # nothing takes them away later
    assert holds(hubs[active]), "the hub lost its gateway addresses when keepalived stopped"
    assert "via 203.0.113.1 dev wan0" in default_route(hubs[active])


def test_lab_down_stops_keepalived_and_conntrackd_and_removes_their_files(pair):
    hubs = pair["hubs"]
    paths = {ns: observe_ha.ha_paths(ns, "") for ns in hubs.values()}
    lab_down(pair["lab"])
    for ns, where in paths.items():
        assert observe_ha.process_of("keepalived", where.keepalived_conf) is None
        assert observe_ha.process_of("conntrackd", where.conntrackd_conf) is None
        assert not os.path.exists(where.run_dir), ns
    assert not json.dumps(observe_ha.hubs_of(pair["lab"], None)).count(pair["lab"])

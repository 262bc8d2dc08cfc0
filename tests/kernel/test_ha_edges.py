"""An HA pair with a tunnelled OPD: the province HA example plus dispar, the office across town
behind its edge box and a NAT, brought up by `pnsbox lab up` (both hubs' pnsboxd as peers, the
edge enrolled with the active hub). The standby takes the hub key and the edge book over the peer
link; when the active hub dies, the edge's tunnel lands on the other hub and its flows go on.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from labkit import EXAMPLE, new_lab_name
from test_ha_lab import GAP, HUBS, INTERNET, SIMPEG, Flow, pnsbox

from pnsbox.lab import hubd, lab_down, netns_name
from pnsbox.lab.failover import CURL_LOOP, attempts, outage, stalls, wait_for_active
from pnsbox.observe import wg

pytestmark = pytest.mark.kernel

WG = "pnsbox-wg"
IN_FLIGHT = 20_000_000 // 8 // 10  # bytes: 0.1 s of the flow's 20 Mbit/s


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """province-ha plus the province example's tourism office (dispar) and its hub side."""
    site = tmp_path_factory.mktemp("ha-edges") / "site"
    shutil.copytree(EXAMPLE.parent / "province-ha", site)
    shutil.copy(EXAMPLE / "opds" / "tourism.yaml", site / "opds" / "tourism.yaml")
    text = (site / "pnsbox.yaml").read_text()
    (site / "pnsbox.yaml").write_text(text.replace("  ha:", "  wireguard: {listen_port: 51820, tunnel: 10.255.0.0/16}\n"
                                                   "  edges_url: https://198.51.100.2:8444/\n  ha:", 1))
    name = new_lab_name("hae")
    try:
        started = time.monotonic()
        pnsbox("lab", "up", "-c", str(site), "--name", name)
        print(f"\nlab up with the pair and dispar's edge enrolled: {time.monotonic() - started:.1f} s")
        yield name
    finally:
        lab_down(name)


def hub_side(lab: str, hub: str):
    return wg.read(netns_name(lab, hub), WG)


def same_edge(standby, active, key: str) -> bool:
    """The standby runs the active's key and the edge's peer."""
    peer = standby.peers.get(key)
    return (standby.public_key == active.public_key and set(standby.peers) == set(active.peers)
            and peer.allowed_ips == active.peers[key].allowed_ips)


def test_the_standby_runs_the_active_hubs_key_and_the_enrolled_edge_within_seconds(lab):
    assert wait_for_active(lab, HUBS, 10) == "hub-a"
    active = hub_side(lab, "hub-a")
    assert len(active.peers) == 1  # dispar's edge, enrolled by lab up at hub-a
    (key,) = active.peers
    deadline = time.monotonic() + 5
    while not same_edge(standby := hub_side(lab, "hub-b"), active, key):
        assert time.monotonic() < deadline, (standby, active)
        time.sleep(0.2)
    time.sleep(1.5)  # a keepalive's time (dispar's is 5 s, but a handshake attempt would be at once)
    standby = hub_side(lab, "hub-b")
    # The standby sends the edge nothing (it does not know where the edge is) and answers nothing.
    assert (standby.peers[key].endpoint, standby.peers[key].latest_handshake, standby.peers[key].tx_bytes) == (None, 0, 0)


def assert_flow_went_on(client: dict, server: dict, what: str) -> None:
    """test_ha_lab's check (no reset, no timeout, still less than GAP, running at the end), but
    the bytes counted by the receiver may fall short of the sender's by what was still on its way
    when iperf3 stopped counting (the tunnel adds its latency and the edge's queue): at most one
    0.1 s interval's worth at the flow's 20 Mbit/s."""
    assert "error" not in client and "error" not in server, (client.get("error"), server.get("error"))
    intervals = server["intervals"][:-1]  # the last one is the stub after the sender stopped
    longest = (stalls(intervals) or [0.0])[0]
    print(f"\n{what}: the flow stood still for {longest:.1f} s at most (0.1 s intervals)")
    assert longest < GAP, f"{what}: the flow stood still {longest:.1f} s"
    sent, received = client["end"]["sum_sent"]["bytes"], server["end"]["sum_received"]["bytes"]
    assert 0 <= sent - received <= IN_FLIGHT, f"{what}: {sent} bytes sent, {received} arrived"
    assert sum(i["sum"]["bytes"] for i in intervals[-3:]), f"{what}: nothing in the last 0.3 s"


def test_a_flow_from_the_tunnelled_office_rides_through_the_active_hub_dying(lab):
    assert wait_for_active(lab, HUBS, 10) == "hub-a"
    loop = subprocess.Popen(["ip", "netns", "exec", netns_name(lab, "dispar"), "sh", "-c",
                             CURL_LOOP.format(seconds=8, timeout=0.5, url=f"http://{SIMPEG}/", pause=0.05)],
                            stdout=subprocess.PIPE, text=True)
    flow = Flow(lab, seconds=8, source="dispar")
    time.sleep(2.5)
    pnsbox("lab", "fail", "--name", lab, "hub-a")
    cut = time.monotonic()
    assert wait_for_active(lab, HUBS, 5, not_="hub-a") == "hub-b"
    print(f"\nhub-b active {time.monotonic() - cut:.2f} s after hub-a's cables were pulled")
    client, server = flow.result()
    assert_flow_went_on(client, server, f"NATed iperf3 flow through dispar's tunnel -> {INTERNET}")
    tries = attempts(loop.communicate(timeout=20)[0])
    longest, failed = outage(tries)
    print(f"curl loop dispar -> simpeg through the tunnel: {len(tries)} requests, {failed} failed, "
          f"{longest:.2f} s without an answer")
    assert tries[-1][2] and longest <= GAP, tries
    assert hub_side(lab, "hub-b").peers[next(iter(hub_side(lab, "hub-b").peers))].latest_handshake > 0
    pnsbox("lab", "heal", "--name", lab, "hub-a")


def test_lab_down_leaves_no_namespace_pnsboxd_or_run_directory_of_the_pair(lab):
    lab_down(lab)
    assert not [ns for ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if ns.startswith(f"pnsbox-{lab}-")]
    assert not hubd.run_dir(lab).exists()

"""The HA example (rules/examples/province-ha) in a lab: two hubs running keepalived and
conntrackd as `pnsbox apply --lab` starts them, real flows through them while the active hub
dies (`lab fail`) and returns (`lab heal`). One lab for the module; the tests run in order and
each leaves the pair as the next one says it finds it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from labkit import EXAMPLE, in_node, new_lab_name
from test_policy_matrix import BETWEEN_OPDS, EVERY_OPD, FROM_ELSEWHERE, HOSTS, outcomes

from pnsbox.apply.ha import paths_for
from pnsbox.lab import lab_down, lab_up, netns_name, topology
from pnsbox.lab.failover import CURL_LOOP, attempts, outage, roles, stalls, wait_for_active, wait_for_roles
from pnsbox.load import load_site
from pnsbox.observe.ha import role, running
from pnsbox.validate import build

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLE_HA = EXAMPLE.parent / "province-ha"
HUBS = ["hub-a", "hub-b"]
INTERNET, SIMPEG = "203.0.113.10", "10.0.10.10"
IPERF_PORT = 15201  # not one of the lab servers' ports
GAP = 3.0  # §4: what a flow may stand still while the pair fails over


def pnsbox(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "pnsbox.cli", *args], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = new_lab_name("ha")
    state = tmp_path_factory.mktemp("ha-state")
    try:
        lab_up(build(load_site(EXAMPLE_HA)), name)
        pnsbox("apply", "-c", str(EXAMPLE_HA), "--lab", name, "--state-dir", str(state))
        # The internet node has no route into the province unless someone tries to break in.
        in_node(name, "internet", "ip", "route", "add", "10.0.0.0/8", "via", "198.51.100.2")
        yield {"name": name, "state": str(state)}
    finally:
        lab_down(name)


class Flow:
    """A long iperf3 TCP flow from an OPD host to the internet node, as both ends see it: the
    server (the receiver) reports what arrived each 0.1 s, the client whether it ended well."""

    def __init__(self, lab: str, seconds: float, source: str = "dinkes"):
        server = ["iperf3", "-s", "-1", "-J", "-i", "0.1", "-B", INTERNET, "-p", str(IPERF_PORT)]
        self.server = subprocess.Popen(["ip", "netns", "exec", netns_name(lab, "internet"), *server],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.3)
        client = ["iperf3", "-c", INTERNET, "-p", str(IPERF_PORT), "-t", str(seconds), "-i", "0.1",
                  "-b", "20M", "-J", "--connect-timeout", "2000"]
        self.client = subprocess.Popen(["ip", "netns", "exec", netns_name(lab, source), *client],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.seconds = seconds

    def result(self) -> tuple[dict, dict]:
        try:
            client = json.loads(self.client.communicate(timeout=self.seconds + 15)[0])
            server = json.loads(self.server.communicate(timeout=5)[0])
        finally:
            for proc in (self.client, self.server):
                proc.kill()
                proc.wait()
        return client, server


def standby_cache(lab: str, hub: str, port: int) -> str:
    """The connections to PORT the standby HUB's conntrackd keeps for the other hub (its external cache)."""
    out = in_node(lab, hub, "conntrackd", "-C", paths_for(netns_name(lab, hub)).conntrackd_conf, "-e")
    return "\n".join(line for line in out.splitlines() if f"dport={port}" in line)


def assert_rode_through(client: dict, server: dict, what: str) -> float:
    """The flow ended as iperf3 planned it (no reset, no timeout) and stood still less than GAP."""
    assert "error" not in client and "error" not in server, (client.get("error"), server.get("error"))
    assert client["end"]["sum_sent"]["bytes"] > 0
    intervals = server["intervals"][:-1]  # the last one is the stub after the sender stopped
    spells = stalls(intervals)
    longest = spells[0] if spells else 0.0
    print(f"\n{what}: the flow stood still for {longest:.1f} s at most (0.1 s intervals)")
    assert longest < GAP, f"{what}: the flow stood still {longest:.1f} s"
    sent, received = client["end"]["sum_sent"]["bytes"], server["end"]["sum_received"]["bytes"]
    assert received == sent, f"{what}: {sent} bytes sent, {received} arrived"  # all of it, one connection
    assert sum(i["sum"]["bytes"] for i in intervals[-3:]), f"{what}: nothing in the last 0.3 s"  # ran again
    return longest


def test_the_pair_comes_up_with_the_preferred_hub_active_and_the_other_standby(lab):
    want = {"hub-a": "active", "hub-b": "standby"}
    assert wait_for_roles(lab["name"], want, 10) == want


def matrix(lab: str) -> tuple[dict, dict]:
    """What every OPD host, a service and the internet reach (test_policy_matrix's
    expectations), probed from all of them at once; and what was expected."""
    expected = {**{node: {**EVERY_OPD, **BETWEEN_OPDS[node]} for node in HOSTS}, **FROM_ELSEWHERE}
    with ThreadPoolExecutor(len(expected)) as pool:
        seen = dict(zip(expected, pool.map(lambda node: outcomes(lab, node, expected[node]), expected),
                        strict=True))
    return seen, expected


def test_the_policy_matrix_holds_through_the_first_hub(lab):
    assert roles(lab["name"], HUBS)["hub-a"] == "active"
    seen, expected = matrix(lab["name"])
    assert seen == expected


def test_a_nated_flow_and_a_request_loop_ride_through_the_active_hub_dying(lab):
    name = lab["name"]
    assert wait_for_active(name, HUBS, 10) == "hub-a"
    loop = subprocess.Popen(["ip", "netns", "exec", netns_name(name, "bappeda"), "sh", "-c",
                             CURL_LOOP.format(seconds=7, timeout=0.5, url=f"http://{SIMPEG}/", pause=0.05)],
                            stdout=subprocess.PIPE, text=True)
    flow = Flow(name, seconds=7)
    time.sleep(2.5)
    assert f"dst={INTERNET} sport=" in standby_cache(name, "hub-b", IPERF_PORT)  # conntrackd has it ready
    pnsbox("lab", "fail", "--name", name, "hub-a")
    cut = time.monotonic()
    assert wait_for_active(name, HUBS, 5, not_="hub-a") == "hub-b"
    print(f"\nhub-b active {time.monotonic() - cut:.2f} s after hub-a's cables were pulled")
    client, server = flow.result()
    assert_rode_through(client, server, "NATed iperf3 flow, dinkes -> internet")
    tries = attempts(loop.communicate(timeout=20)[0])
    longest, failed = outage(tries)
    print(f"curl loop to simpeg: {len(tries)} requests, {failed} failed, {longest:.2f} s without an answer")
    assert tries[-1][2] and longest <= GAP, tries
    assert wait_for_roles(name, {"hub-a": "fault", "hub-b": "active"}, 3)["hub-a"] == "fault"  # cut off: let go


def test_the_policy_matrix_is_the_same_through_the_second_hub(lab):
    assert roles(lab["name"], HUBS) == {"hub-a": "fault", "hub-b": "active"}
    seen, expected = matrix(lab["name"])
    assert seen == expected


def test_the_returning_hub_stays_standby_and_says_so_while_flows_run_on(lab):
    name = lab["name"]
    flow = Flow(name, seconds=5)
    time.sleep(1.5)
    pnsbox("lab", "heal", "--name", name, "hub-a")
    back = wait_for_roles(name, {"hub-a": "standby", "hub-b": "active"}, 5)
    client, server = flow.result()
    longest = assert_rode_through(client, server, "healing hub-a (no preemption)")
    assert longest < 0.5  # nothing moved
    assert back == roles(name, HUBS) == {"hub-a": "standby", "hub-b": "active"}
    status = pnsbox("ha", "status", "--lab", name, "--state-dir", lab["state"])
    assert "hub-a: standby" in status and "hub-b: active" in status, status


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _peer_mode() -> bool:
    """Whether pnsboxd replicates with its peer (`pnsboxd --peer NAME`, issue 16's ha-sync)."""
    return "--peer" in subprocess.run([str(BIN / "pnsboxd"), "--help"], capture_output=True, text=True).stdout


def _pnsboxd(lab: dict, hub: str, peer_mode: bool) -> subprocess.Popen:
    """pnsboxd managing HUB of the lab, on the state `pnsbox apply --lab` left for it."""
    ns = netns_name(lab["name"], hub)
    sock = os.path.join(lab["state"], f"{hub}.sock")
    argv = [str(BIN / "pnsboxd"), "--state-dir", os.path.join(lab["state"], ns), "--socket", sock,
            "--netns", ns, "--metrics-listen", f"127.0.0.1:{_free_port()}"]
    proc = subprocess.Popen(argv + (["--peer", hub] if peer_mode else []),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not os.path.exists(sock) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None and os.path.exists(sock), f"pnsboxd for {hub} did not start"
    return proc


def test_killing_pnsboxd_on_the_active_hub_moves_nothing_but_killing_the_box_does(lab):
    """With pnsboxd's peer mode, both hubs' pnsboxd run and replicate, and the active one's is
    killed; without it, the active hub's pnsboxd alone. Either way keepalived holds the role."""
    name = lab["name"]
    peer_mode = _peer_mode()
    if peer_mode:
        from pnsbox.daemon import pairkey

        key = pairkey.create(os.path.join(lab["state"], netns_name(name, "hub-a"), pairkey.FILE))
        shutil.copy(key, os.path.join(lab["state"], netns_name(name, "hub-b"), pairkey.FILE))
    daemons = {hub: _pnsboxd(lab, hub, peer_mode) for hub in (HUBS if peer_mode else ["hub-b"])}
    try:
        transitions = {hub: role(netns_name(name, hub)).transitions for hub in HUBS}
        daemons["hub-b"].kill()  # SIGKILL on the active hub: no goodbye to anyone
        daemons["hub-b"].wait()
        time.sleep(1.5)  # seven adverts' time: a failover would have happened by now
        assert roles(name, HUBS) == {"hub-a": "standby", "hub-b": "active"}
        assert {hub: role(netns_name(name, hub)).transitions for hub in HUBS} == transitions
    finally:
        for proc in daemons.values():
            proc.kill()
            proc.wait()
    flow = Flow(name, seconds=5, source="diskominfo")
    time.sleep(1.5)
    assert "src=10.30.0.2" in standby_cache(name, "hub-a", IPERF_PORT)  # the healed hub's conntrackd caught up
    pnsbox("lab", "fail", "--name", name, "hub-b")
    assert wait_for_active(name, HUBS, 5, not_="hub-b") == "hub-a"  # the healed hub got its routes back too
    client, server = flow.result()
    assert_rode_through(client, server, "failing over back to hub-a")
    pnsbox("lab", "heal", "--name", name, "hub-b")


def _gone(pid: int, seconds: float = 3.0) -> bool:
    """PID has ended (a zombie waiting for its parent to reap it counts as ended)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_lab_down_leaves_no_namespace_process_or_file_of_the_pair(lab):
    name = lab["name"]
    pnsbox("lab", "fail", "--name", name, "hub-a")  # a cut in progress keeps a file of its own
    hubs = {hub: netns_name(name, hub) for hub in HUBS}
    daemons = {hub: running(paths_for(ns)) for hub, ns in hubs.items()}
    assert all(d.keepalived_pid and d.conntrackd_pid for d in daemons.values()), daemons
    lab_down(name)
    assert not [ns for ns in os.listdir("/run/netns") if ns.startswith(f"pnsbox-{name}-")]
    for hub, ns in hubs.items():
        for pid in (daemons[hub].keepalived_pid, daemons[hub].conntrackd_pid):
            assert _gone(pid), (hub, pid, Path(f"/proc/{pid}/cmdline").read_text())
        assert not os.path.exists(paths_for(ns).run_dir)
    assert not os.path.exists(os.path.join(topology.RUN_ROOT, name))

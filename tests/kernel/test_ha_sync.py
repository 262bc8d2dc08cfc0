"""Two real pnsboxd processes, one per hub namespace, joined by a veth sync link: the pair runs one
config (replication within 2 s, the same ruleset digest, catch-up after a restart, a split brain
reported and not overwritten, a wrong pair key refused)."""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from labkit import EXAMPLE, ROOT

from pnsbox.daemon import pairkey
from pnsbox.observe import table

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)

BIN = ROOT / ".venv" / "bin"
DEVICES = ["wan0", "opd-dinkes", "opd-bappeda", "lan0.130", "dc0"]
PEERS = {"hub-a": "10.254.0.1", "hub-b": "10.254.0.2"}
IT_SUPPORT = "  - {name: it-support, from: diskominfo, to: opds, action: accept}\n"
HA_RUN_ROOT = Path("/run/pnsbox/ha")


def _pair_site(site: Path) -> None:
    """The example, with the sync link's peer port let in from the other hub's address."""
    main = site / "pnsbox.yaml"
    text = main.read_text()
    text = text.replace("    from: [diskominfo]          # only the IT office reaches the box itself\n"
                        "    ports: [tcp/22, tcp/443]",
                        "    from: [diskominfo, pair]\n    ports: [tcp/22, tcp/443, tcp/7443]")
    text = text.replace("services:                       # shared applications in the data center\n",
                        "services:\n  pair:\n    addresses: [10.254.0.1, 10.254.0.2]\n    ports: [tcp/7443]\n"
                        "    link: {interface: sync0}\n")
    main.write_text(text)


@pytest.fixture
def pair(tmp_path):
    """Two hub namespaces (each with the example's links to a sink), a sync veth between them,
    the pair key on both, role.json as keepalived's hook writes it, and a way to run pnsboxd."""
    tag = uuid.uuid4().hex[:6]
    hubs = {"hub-a": f"pnha-{tag}-a", "hub-b": f"pnha-{tag}-b"}
    sinks = {name: f"{netns}-s" for name, netns in hubs.items()}
    made = []
    try:
        for name, netns in hubs.items():
            for ns in (netns, sinks[name]):
                subprocess.run(["ip", "netns", "add", ns], check=True)
                made.append(ns)
            for i, device in enumerate(DEVICES):
                subprocess.run(["ip", "-n", netns, "link", "add", "name", device, "type", "veth", "peer", "name",
                                f"p{i}", "netns", sinks[name]], check=True)
        subprocess.run(["ip", "-n", hubs["hub-a"], "link", "add", "sync0", "type", "veth", "peer", "name", "sync0",
                        "netns", hubs["hub-b"]], check=True)
        for name, netns in hubs.items():
            subprocess.run(["ip", "-n", netns, "addr", "add", f"{PEERS[name]}/24", "dev", "sync0"], check=True)
            subprocess.run(["ip", "-n", netns, "link", "set", "sync0", "up"], check=True)
        site = tmp_path / "site"
        shutil.copytree(EXAMPLE, site)
        _pair_site(site)
        key = pairkey.create(tmp_path / "hub-a" / pairkey.FILE)
        (tmp_path / "hub-b").mkdir()
        shutil.copy(key, tmp_path / "hub-b" / pairkey.FILE)
        procs: dict[str, subprocess.Popen] = {}
        pair = Pair(tmp_path, hubs, procs, site)
        pair.set_role("hub-a", "active")
        pair.set_role("hub-b", "standby")
        yield pair
    finally:
        for proc in list(locals().get("procs", {}).values()):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns])
        for netns in hubs.values():
            shutil.rmtree(HA_RUN_ROOT / netns, ignore_errors=True)


class Pair:
    def __init__(self, root: Path, hubs: dict, procs: dict, site: Path):
        self.root, self.hubs, self.procs, self.site = root, hubs, procs, site

    def state(self, hub: str) -> Path:
        return self.root / hub

    def socket(self, hub: str) -> str:
        return str(self.root / f"{hub}.sock")

    def set_role(self, hub: str, role: str) -> None:
        run_dir = HA_RUN_ROOT / self.hubs[hub]
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "role.json").write_text(json.dumps({"role": role, "since": time.time(), "transitions": 1}))

    def start(self, hub: str, metrics: bool = False) -> None:
        if os.path.exists(self.socket(hub)):
            os.unlink(self.socket(hub))
        log = open(self.root / f"{hub}.log", "a")  # noqa: SIM115 - the process writes it
        self.procs[hub] = subprocess.Popen(
            [str(BIN / "pnsboxd"), "--state-dir", str(self.state(hub)), "--socket", self.socket(hub), "--netns",
             self.hubs[hub], "--metrics-listen", "127.0.0.1:0" if metrics else "off", "--peer", hub,
             "--ha-peers", ",".join(f"{n}={a}" for n, a in PEERS.items())], stdout=log, stderr=subprocess.STDOUT)
        assert wait_for(lambda: os.path.exists(self.socket(hub)) or self.procs[hub].poll() is not None, 30)
        assert self.procs[hub].poll() is None, self.log(hub)

    def kill(self, hub: str) -> None:
        self.procs[hub].kill()
        self.procs[hub].wait()

    def log(self, hub: str) -> str:
        return (self.root / f"{hub}.log").read_text()

    def pnsbox(self, hub: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(BIN / "pnsbox"), *args, "--socket", self.socket(hub)], capture_output=True,
                              text=True)
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    def apply(self, hub: str, message: str, *extra: str, ok: bool = True) -> subprocess.CompletedProcess:
        return self.pnsbox(hub, "apply", "-c", str(self.site), "-m", message, *extra, ok=ok)

    def metrics(self, hub: str) -> str:
        port = re.findall(r"metrics on http://127.0.0.1:(\d+)/", self.log(hub))[-1]  # the latest start's
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()

    def ha(self, hub: str) -> dict:
        from pnsbox.control.client import ControlClient

        return ControlClient(self.socket(hub)).ha()

    def versions(self, hub: str) -> list[tuple[int, str, str]]:
        return [(v["id"], v["message"], v["author"]) for v in
                (json.loads(p.read_text()) for p in sorted((self.state(hub) / "history").glob("[0-9]*.json")))]

    def digest(self, hub: str) -> str | None:
        return table.running_digest(self.hubs[hub])

    def audit(self, hub: str) -> list[dict]:
        path = self.state(hub) / "audit.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def change(self, text: str) -> None:
        """Edit the site: a new comment in one policy's name is enough for a new ruleset."""
        main = self.site / "pnsbox.yaml"
        main.write_text(re.sub(r"name: it-support[^,]*,", f"name: it-support-{text},", main.read_text()))


def wait_for(predicate, seconds: float, step: float = 0.02):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(step)
    return None


def same_version(pair: Pair, version: int) -> bool:
    return pair.ha("hub-b")["running"] == version and pair.digest("hub-b") == pair.digest("hub-a")


def test_an_apply_on_the_active_hub_runs_on_the_standby_within_two_seconds_with_the_same_digest(pair):
    pair.start("hub-a", metrics=True)
    pair.start("hub-b")
    pair.apply("hub-a", "base")
    assert wait_for(lambda: same_version(pair, 1), 10), pair.log("hub-b")
    pair.change("v2")
    started = time.monotonic()
    pair.apply("hub-a", "the second")
    applied = time.monotonic()
    # The standby does the same kernel work as the active: on a machine so loaded that the
    # active's own apply takes longer than 2 s, the bound is that time, not a flake.
    limit = max(2.0, 1.5 * (applied - started))
    arrived = wait_for(lambda: same_version(pair, 2), limit)
    assert arrived, f"not on hub-b within {limit:.1f} s: {pair.ha('hub-b')}"
    print(f"the apply on hub-a took {applied - started:.2f} s (the CLI's round trip); hub-b ran version 2 "
          f"{arrived - applied:.2f} s after it returned")
    assert pair.digest("hub-a") == pair.digest("hub-b") is not None
    assert pair.versions("hub-b") == pair.versions("hub-a")  # same numbers, messages, authors
    replicated = [e for e in pair.audit("hub-b") if e["action"] == "replicated"]
    assert replicated[-1]["detail"].startswith("version 2 made on hub-a") and replicated[-1]["hub"] == "hub-b"
    assert [e["hub"] for e in pair.audit("hub-a") if e["action"] == "apply"] == ["hub-a", "hub-a"]

    print(f"hub-b's catch-up took {pair.ha('hub-b')['last_replication']['seconds']:.2f} s")
    pair.change("v3")
    refused = pair.apply("hub-b", "on the standby", ok=False)
    assert refused.returncode != 0 and "hub-b is the standby hub: apply on the active hub hub-a" in refused.stderr
    assert pair.ha("hub-b")["latest"] == 2

    status = pair.pnsbox("hub-b", "ha", "status").stdout
    assert "hub-b (this hub): standby, runs version 2" in status and "hub-a (peer at 10.254.0.1): active" in status
    scraped = pair.metrics("hub-a")
    for line in ('pnsbox_ha_role{peer="hub-a",role="active"} 1.0', 'pnsbox_ha_peer_up{peer="hub-b"} 1.0',
                 'pnsbox_ha_peer_version{peer="hub-b"} 2.0', 'pnsbox_ha_split_brain{peer="hub-b"} 0.0',
                 'pnsbox_ha_transitions_total{peer="hub-a"} 1.0'):
        assert line in scraped, line


def test_a_commit_confirm_rollback_and_a_confirm_happen_on_both_hubs(pair):
    pair.start("hub-a")
    pair.start("hub-b")
    pair.apply("hub-a", "base")
    assert wait_for(lambda: same_version(pair, 1), 10)
    base = pair.digest("hub-a")
    pair.change("unconfirmed")
    pair.apply("hub-a", "try", "--confirm", "2")
    assert wait_for(lambda: same_version(pair, 2), 2.0)
    assert wait_for(lambda: pair.digest("hub-a") == base and same_version(pair, 1), 5)
    time.sleep(1.2)  # a pass or two later, hub-b has not taken the rolled-back version up again
    assert same_version(pair, 1) and pair.ha("hub-b")["pending"] is None
    pair.apply("hub-a", "try again", "--confirm", "30")  # the same files: a new version (3)
    assert wait_for(lambda: same_version(pair, 3), 2.0)
    pair.pnsbox("hub-a", "confirm")
    assert wait_for(lambda: pair.ha("hub-b")["confirmed"] == 3, 2.0)
    assert "hub-a confirmed version 3" in [e["detail"] for e in pair.audit("hub-b")]


def test_a_standby_that_was_down_catches_up_in_order_when_it_returns(pair):
    pair.start("hub-a")
    pair.start("hub-b")
    pair.apply("hub-a", "base")
    assert wait_for(lambda: same_version(pair, 1), 10)
    pair.kill("hub-b")
    for step in ("two", "three"):
        pair.change(step)
        pair.apply("hub-a", step)
    assert pair.ha("hub-a")["reachable"] is False or wait_for(lambda: not pair.ha("hub-a")["reachable"], 3)
    pair.start("hub-b")
    assert wait_for(lambda: same_version(pair, 3), 10), pair.log("hub-b")
    assert pair.versions("hub-b") == pair.versions("hub-a")
    assert [e["detail"].split(":")[0] for e in pair.audit("hub-b") if e["action"] == "replicated"][-2:] == \
        ["version 2 made on hub-a", "version 3 made on hub-a"]


def test_a_split_brain_is_reported_on_both_hubs_and_nothing_is_overwritten_until_an_admin_keeps_one_side(pair):
    pair.start("hub-a", metrics=True)
    pair.start("hub-b")
    pair.apply("hub-a", "base")
    assert wait_for(lambda: same_version(pair, 1), 10)
    pair.kill("hub-b")
    pair.change("on-a")
    pair.apply("hub-a", "made on a")
    pair.kill("hub-a")
    pair.start("hub-b")
    pair.change("on-b")
    forced = pair.apply("hub-b", "made on b", "--force")  # hub-b is standby: forced, and audited
    assert "applied as version 2" in forced.stdout
    digest_b = pair.digest("hub-b")
    pair.start("hub-a", metrics=True)
    assert wait_for(lambda: pair.ha("hub-a")["split_brain"] and pair.ha("hub-b")["split_brain"], 10)
    time.sleep(1.5)  # a few more passes: still nothing overwritten
    assert pair.versions("hub-a")[1][1] == "made on a" and pair.versions("hub-b")[1][1] == "made on b"
    assert pair.digest("hub-b") == digest_b != pair.digest("hub-a")
    status = pair.pnsbox("hub-a", "ha", "status", ok=False)
    assert status.returncode == 2 and "SPLIT BRAIN" in status.stdout and "from version 2 on" in status.stdout
    assert any(e["action"] == "forced-on-standby" for e in pair.audit("hub-b"))
    assert [e["action"] for e in pair.audit("hub-a")].count("split-brain") == 1
    assert 'pnsbox_ha_split_brain{peer="hub-b"} 1.0' in pair.metrics("hub-a")

    pair.pnsbox("hub-a", "ha", "resolve", "--keep", "hub-a")
    assert wait_for(lambda: same_version(pair, 2), 5), pair.log("hub-b")
    assert pair.versions("hub-b")[1][1] == "made on a"
    aside = list((pair.state("hub-b") / "history").glob("split-brain-*/000002.json"))
    assert len(aside) == 1 and json.loads(aside[0].read_text())["message"] == "made on b"  # kept, not deleted
    assert not pair.ha("hub-a")["split_brain"] and not pair.ha("hub-b")["split_brain"]
    assert any(e["action"] == "split-brain-resolved" for e in pair.audit("hub-b"))


def test_a_peer_with_another_pair_key_is_refused_audited_and_changes_nothing(pair):
    (pair.state("hub-b") / pairkey.FILE).unlink()
    pairkey.create(pair.state("hub-b") / pairkey.FILE)  # not the key hub-a holds
    pair.start("hub-a")
    pair.start("hub-b")
    pair.apply("hub-a", "base")
    assert wait_for(lambda: any(e["action"] == "peer-refused" for e in pair.audit("hub-a")), 5)
    time.sleep(1.5)
    assert pair.versions("hub-b") == [] and pair.digest("hub-b") is None
    refused = next(e for e in pair.audit("hub-a") if e["action"] == "peer-refused")
    assert "wrong signature" in refused["detail"] and refused["from"] == "tcp:10.254.0.2"
    seen = pair.ha("hub-b")
    assert seen["reachable"] is False and "does not hold our pair key" in seen["last_error"]

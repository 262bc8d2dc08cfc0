"""The monthly evaluation proven in a lab: a real pnsboxd sampling every second while iperf3 pushes
known rates through two OPDs; the report's bytes, p95 and peak match what was sent, in the hour it
was sent; a restart, a counter reset and a renamed OPD lose nothing; a real Prometheus scraping
pnsboxd sees the same per-OPD rates."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from labkit import ROOT, new_lab_name

from pnsbox.lab import topology
from pnsbox.load import load_site
from pnsbox.validate import build

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)
if shutil.which("iperf3") is None:
    pytest.skip("the monthly lab needs iperf3 (Debian package iperf3)", allow_module_level=True)

BIN = ROOT / ".venv" / "bin"
MBIT = 10**6
SERVER = "198.51.100.1"
PORTS = {"a": 5311, "b": 5312}
RATES = {"a": 20 * MBIT, "b": 8 * MBIT}  # well under the ceilings: nothing is shaped away
PAYLOAD = 1400  # UDP payload; on the wire each datagram carries 28 bytes of IP and UDP header more
SITE = """\
site:
  name: monthly
  timezone: Asia/Jakarta
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 100mbit}
opds:
  a:
    name: Dinas A
    subnet: 10.21.0.0/24
    link: {interface: opd-a}
    bandwidth: {guaranteed: 30mbit, ceiling: 60mbit}
  B_KEY:
    name: Badan B
    subnet: 10.22.0.0/24
    link: {interface: opd-b}
    bandwidth: {guaranteed: 20mbit, ceiling: 40mbit}
policies:
  - {name: internet, from: opds, to: internet, action: accept}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_site(directory, b_key: str = "b"):
    directory.mkdir(exist_ok=True)
    (directory / "pnsbox.yaml").write_text(SITE.replace("B_KEY", b_key))
    return directory


class Daemon:
    def __init__(self, state, sock, hub, port, log):
        self.args = [str(BIN / "pnsboxd"), "--state-dir", state, "--socket", sock, "--netns", hub,
                     "--metrics-listen", f"127.0.0.1:{port}", "--usage-interval", "1"]
        self.sock, self.log, self.proc = sock, log, None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if os.path.exists(self.sock):
                return
            time.sleep(0.05)
        raise RuntimeError("pnsboxd did not open its socket")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("monthly")
    name = new_lab_name("m")
    site = write_site(tmp / "site")
    state, sock, port = str(tmp / "state"), str(tmp / "control.sock"), _free_port()
    servers, daemon = [], None
    log = open(tmp / "pnsboxd.log", "w")  # noqa: SIM115 -- written by the daemon for the module's life
    try:
        topology.lab_up(build(load_site(site)), name)
        hub = topology.netns_name(name, "hub")
        for server_port in PORTS.values():
            servers.append(subprocess.Popen(topology.exec_argv(name, "internet", ["iperf3", "-s", "-p",
                                                                                  str(server_port)]),
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        daemon = Daemon(state, sock, hub, port, log)
        daemon.start()
        cli("apply", "-c", str(site), "--socket", sock)
        yield {"name": name, "hub": hub, "state": state, "socket": sock, "port": port, "daemon": daemon,
               "tmp": tmp, "log": tmp / "pnsboxd.log"}
    finally:
        if daemon and daemon.proc and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
        for server in servers:
            server.kill()
            server.wait()
        log.close()
        topology.lab_down(name)


def cli(*args) -> str:
    proc = subprocess.run([str(BIN / "pnsbox"), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def push(lab, flows: dict[str, tuple]) -> dict[str, dict]:
    """UDP at RATES from the internet to each OPD host (node, seconds), side by side; iperf3's
    JSON per flow, with `wire_bytes`: the datagrams as the hub's counters see them."""
    procs = {}
    for key, (node, seconds, *rate) in flows.items():
        argv = ["iperf3", "-c", SERVER, "-p", str(PORTS[key]), "-u", "-R", "-b", str(rate[0] if rate else RATES[key]),
                "-l", str(PAYLOAD), "-t", str(seconds), "-J", "--connect-timeout", "3000"]
        procs[key] = subprocess.Popen(topology.exec_argv(lab["name"], node, argv), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
    found = {}
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        data = json.loads(out)
        assert "error" not in data, data.get("error")
        total = data["end"]["sum"]
        data["wire_bytes"] = total["bytes"] + total["packets"] * 28
        data["wire_rate"] = data["wire_bytes"] * 8 / total["seconds"]
        wire = (PAYLOAD + 28) / PAYLOAD
        data["wire_top"] = max(i["sum"]["bits_per_second"] * wire for i in data["intervals"])  # its busiest second
        found[key] = data
    return found


def report(lab) -> dict:
    month = datetime.now(UTC) + timedelta(hours=7)
    return json.loads(cli("report", "--json", "--state-dir", lab["state"], "--month", f"{month:%Y-%m}"))


def near(value: float, expected: float, share: float = 0.05) -> bool:
    return abs(value - expected) <= share * expected


def test_the_report_has_the_bytes_p95_and_peak_iperf3_sent_in_the_hour_it_was_sent(lab):
    time.sleep(3)  # a few idle samples first
    sent = push(lab, {"a": ("a", 12), "b": ("b", 12)})
    hour = (datetime.now(UTC) + timedelta(hours=7) - timedelta(seconds=6)).hour  # the middle of the sending
    time.sleep(2.5)  # the last samples are written
    found = report(lab)
    for key in ("a", "b"):
        down = found["opds"][key]["down"]
        assert near(down["bytes"], sent[key]["wire_bytes"]), (key, down["bytes"], sent[key]["wire_bytes"])
        assert near(down["p95"], sent[key]["wire_rate"]), ("p95", key, down["p95"], sent[key]["wire_rate"])
        # A loaded machine makes iperf3 catch up in bursts: the peak lies between the rate sent and
        # iperf3's own busiest second, each within 5%.
        assert 0.95 * sent[key]["wire_rate"] <= down["peak"] <= 1.05 * sent[key]["wire_top"], \
            ("peak", key, down["peak"], sent[key]["wire_rate"], sent[key]["wire_top"])
        assert down["peak_hour"] == hour
        assert down["guarantee"] == {"a": 30, "b": 20}[key] * MBIT
        assert down["hours_near_ceiling"] == 0 and down["drops"] == 0
    province = found["province"]["down"]
    assert 0.95 * (sent["a"]["wire_rate"] + sent["b"]["wire_rate"]) <= province["peak"] <= \
        1.05 * (sent["a"]["wire_top"] + sent["b"]["wire_top"])
    assert near(province["shares"]["a"], 20 / 28, 0.05) and near(province["shares"]["b"], 8 / 28, 0.05)
    assert province["ceiling"] == 100 * MBIT  # the pipe
    table = cli("report", "--state-dir", lab["state"])
    assert "a " in table and "province" in table


def test_the_peak_lands_in_the_hour_and_weekday_of_an_injected_clock(lab, tmp_path):
    """pnsboxd's sampling with a clock set to Tuesday 3 November 2026, 14:00 in Jakarta (a test may
    inject time): the traffic's peak is placed in that hour and weekday, whatever the real time."""
    import threading

    from pnsbox.daemon.core import Daemon

    sampler = Daemon(str(tmp_path / "state"), lab["hub"], usage_interval=1)  # reads the lab's counters
    fake_start, real_start = datetime(2026, 11, 3, 7, 0, 5, tzinfo=UTC), time.time()
    stop = threading.Event()

    def sample():
        while not stop.wait(1.0):
            sampler.sample_usage(fake_start + timedelta(seconds=time.time() - real_start))

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        time.sleep(2)
        sent = push(lab, {"a": ("a", 6)})["a"]
        time.sleep(2)
    finally:
        stop.set()
        thread.join()
    found = json.loads(cli("report", "--json", "--state-dir", str(tmp_path / "state"), "--month", "2026-11"))
    down = found["opds"]["a"]["down"]
    assert (down["peak_hour"], down["peak_weekday"]) == (14, "tuesday")
    assert down["peak_at"].startswith("2026-11-03 14:00")
    assert near(down["bytes"], sent["wire_bytes"])
    assert 0.95 * sent["wire_rate"] <= down["peak"] <= 1.05 * sent["wire_top"]


PROMETHEUS_CONFIG = """\
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [RULES, ALERTS]
scrape_configs:
  - job_name: pnsbox
    static_configs: [{targets: ["127.0.0.1:PORT"]}]
"""


@pytest.fixture
def prometheus(lab):
    """A real Prometheus (Debian's package) on loopback, scraping pnsboxd every second with the
    contrib rules loaded."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("needs Prometheus (Debian package prometheus)")
    contrib = ROOT / "contrib" / "prometheus"
    config = lab["tmp"] / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.replace("PORT", str(lab["port"]))
                      .replace("RULES", str(contrib / "pnsbox.rules.yml")).replace("ALERTS",
                                                                                   str(contrib / "pnsbox.alerts.yml")))
    port = _free_port()
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={lab['tmp'] / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=open(lab["tmp"] / "prometheus.log", "w"))  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                targets = json.load(urllib.request.urlopen(f"{url}/api/v1/targets", timeout=2))
                if any(t["health"] == "up" for t in targets["data"]["activeTargets"]):
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail("Prometheus did not scrape pnsboxd")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def promql(url: str, expr: str, at: float) -> dict[str, float]:
    query = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    data = json.load(urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10))
    return {r["metric"].get("opd", ""): float(r["value"][1]) for r in data["data"]["result"]}


def test_a_real_prometheus_sees_the_per_opd_rates_iperf3_sent(lab, prometheus):
    rules = json.load(urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=10))["data"]["groups"]
    assert {g["name"] for g in rules} == {"pnsbox-rates", "pnsbox-month", "pnsbox-alerts"}  # the contrib rules load
    started = time.time()
    sent = push(lab, {"a": ("a", 12), "b": ("b", 12)})
    time.sleep(2)
    middle = started + 9  # a window well inside both flows: [3 s, 9 s]
    found = promql(prometheus, '8 * rate(pnsbox_opd_bytes_total{direction="rx"}[6s])', middle)
    for key in ("a", "b"):
        assert near(found[key], sent[key]["wire_rate"]), (key, found[key], sent[key]["wire_rate"])
    idle = promql(prometheus, '8 * rate(pnsbox_opd_bytes_total{direction="rx"}[6s])', started - 1)
    assert idle.get("a", 0) < 0.01 * RATES["a"]  # and nothing before


def test_a_restart_a_counter_reset_and_a_renamed_opd_lose_nothing(lab):
    before = report(lab)["opds"]
    lab["daemon"].stop()
    sent_while_down = push(lab, {"b": ("b", 4)})["b"]["wire_bytes"]  # the kernel keeps counting
    lab["daemon"].start()
    time.sleep(2)
    renamed = write_site(lab["tmp"] / "renamed", b_key="bapperida")  # a reload: every counter starts again
    cli("apply", "-c", str(renamed), "--socket", lab["socket"], "-m", "b is now bapperida")
    sent_after = push(lab, {"b": ("b", 6)})["b"]["wire_bytes"]
    time.sleep(2.5)
    after = report(lab)["opds"]
    assert near(after["b"]["down"]["bytes"] - before["b"]["down"]["bytes"], sent_while_down)
    assert near(after["bapperida"]["down"]["bytes"], sent_after)
    assert after["bapperida"]["down"]["peak"] >= 0.95 * RATES["b"] * (PAYLOAD + 28) / PAYLOAD
    assert after["a"]["down"]["bytes"] - before["a"]["down"]["bytes"] < 50_000  # a sent nothing meanwhile
    assert after["bapperida"]["name"] == "Badan B"


def test_an_opd_pushed_past_its_ceiling_shows_time_at_the_ceiling_and_the_kernels_drops(lab):
    before = report(lab)["opds"]["a"]["down"]
    push(lab, {"a": ("a", 6, 90 * MBIT)})  # a's ceiling is 60 Mbit/s: HTB holds it there and drops the rest
    time.sleep(2.5)
    after = report(lab)["opds"]["a"]["down"]
    assert 3 / 3600 <= after["hours_near_ceiling"] - before["hours_near_ceiling"] <= 9 / 3600
    assert after["drops"] - before["drops"] > 1000  # about a third of 90 Mbit/s of 1428-byte datagrams
    assert after["ceiling"] == 60 * MBIT

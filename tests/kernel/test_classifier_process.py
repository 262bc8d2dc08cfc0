"""The pnsbox-classifier process on a real queue: a client and a server namespace joined by
a middle one that forwards and queues new flows (iptables-nft NFQUEUE, as the apply layer
will), with an nft rule copying the verdict's packet mark into the conntrack mark.

Proves, with real sockets: HTTP Host and TLS SNI flows get the catalog's application in
their ct mark; a killed or stopped classifier leaves traffic flowing; a stalled one (SIGSTOP)
under a flood of new flows still passes every packet (fail-open) and shows the overflow in
its metrics once it resumes.
"""

import contextlib
import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from labkit import ROOT

from pnsbox.classifier.catalog import default_catalog
from pnsbox.classifier.verdict import unpack_mark
from pnsbox.model import Classifier
from pnsbox.render.apps import classify_only

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)
_MISSING = [tool for tool in ("iptables", "nft", "conntrack", "curl", "ss", "pgrep") if not shutil.which(tool)]
if _MISSING:
    pytest.skip(f"the classifier lab needs {', '.join(_MISSING)}", allow_module_level=True)

CLIENT, MIDDLE_C, MIDDLE_S, SERVER = "198.51.100.2", "198.51.100.1", "203.0.113.1", "203.0.113.2"
SINK_PORT = 9
# The queue rule and the verdict copy exactly as pnsbox's apply layer writes them.
QUEUE_RULES, COPY_MARK = classify_only(Classifier(), "pnscl", default_catalog())
SINK_COUNTER = f"""table inet pnscl {{
  counter sink {{ }}
  chain input {{
    type filter hook input priority 0;
    udp dport {SINK_PORT} counter name sink drop
  }}
}}
"""
TLS_SERVER = """
import http.server, ssl, sys
server = http.server.HTTPServer((sys.argv[1], 443), http.server.SimpleHTTPRequestHandler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""
FLOOD = """
import socket, struct, sys
src, dst, port, count = socket.inet_aton(sys.argv[1]), socket.inet_aton(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
payload = b"pnsbox fail-open"
for i in range(count):  # one packet per flow: every source port is a new flow
    udp = struct.pack("!HHHH", 10000 + i, port, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    raw.sendto(ip + udp, (sys.argv[2], 0))
"""


def sh(*argv, check=True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, **kwargs)


def in_ns(ns: str, *argv) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def self_signed(tmp_path, name: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def wait_listening(ns: str, port: int) -> None:
    for _ in range(100):
        if f":{port} " in sh(*in_ns(ns, "ss", "-ltnH")).stdout:
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} in {ns}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """client -- middle (forwards, queues) -- server, with HTTP and HTTPS servers and a UDP sink."""
    tag = uuid.uuid4().hex[:6]
    client, middle, server = (f"pnscl-{tag}-{n}" for n in ("c", "m", "s"))
    made, servers = [], []
    tmp = tmp_path_factory.mktemp("classifier")
    try:
        for ns in (client, middle, server):
            sh("ip", "netns", "add", ns)
            made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"pnscl{tag}c", "netns", client, "type", "veth", "peer", "name", "mc", "netns", middle)
        sh("ip", "link", "add", f"pnscl{tag}s", "netns", server, "type", "veth", "peer", "name", "ms", "netns", middle)
        for ns, device, address, gateway in ((client, f"pnscl{tag}c", CLIENT, MIDDLE_C),
                                             (server, f"pnscl{tag}s", SERVER, MIDDLE_S)):
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", device)
            sh("ip", "-n", ns, "link", "set", device, "up")
            sh("ip", "-n", ns, "route", "add", "default", "via", gateway)
        for device, address in (("mc", MIDDLE_C), ("ms", MIDDLE_S)):
            sh("ip", "-n", middle, "addr", "add", f"{address}/24", "dev", device)
            sh("ip", "-n", middle, "link", "set", device, "up")
        sh(*in_ns(middle, "sysctl", "-qw", "net.ipv4.ip_forward=1"))
        sh(*in_ns(middle, "iptables-nft-restore", "--noflush"), input=QUEUE_RULES)
        sh(*in_ns(middle, "nft", "-f", "-"), input=COPY_MARK)
        sh(*in_ns(server, "nft", "-f", "-"), input=SINK_COUNTER)
        cert, key = self_signed(tmp, "zoom.us")
        servers.append(subprocess.Popen(in_ns(server, sys.executable, "-m", "http.server", "--bind", SERVER, "80"),
                                        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        servers.append(subprocess.Popen(in_ns(server, sys.executable, "-c", TLS_SERVER, SERVER, cert, key),
                                        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_listening(server, 80)
        wait_listening(server, 443)
        yield {"client": client, "middle": middle, "server": server}
    finally:
        for proc in servers:
            proc.kill()
            proc.wait()
        for ns in reversed(made):
            sh("ip", "netns", "del", ns, check=False)


class Classifier:
    """A running pnsbox-classifier on the middle namespace, in a session of its own."""

    def __init__(self, middle: str):
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "pnsbox-classifier"), "--netns", middle, "--metrics-listen",
             "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.output = []
        for line in self.proc.stdout:
            self.output.append(line)
            found = re.search(r"metrics on 127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                break
        else:
            raise AssertionError(f"pnsbox-classifier did not start: {''.join(self.output)}")

    def worker(self) -> int:
        return int(sh("pgrep", "-P", str(self.proc.pid)).stdout.split()[0])

    def metrics(self) -> dict[str, float]:
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5).read().decode()
        return {name: float(value) for name, value in
                (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))}

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def classifier(lab):
    sh(*in_ns(lab["middle"], "conntrack", "-F"), check=False)
    running = Classifier(lab["middle"])
    try:
        yield running
    finally:
        running.close()


def curl(lab, *args) -> str:
    return sh(*in_ns(lab["client"], "curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", *args)).stdout


def ct_mark(lab, port: int) -> int:
    """The ct mark of the (single) conntrack entry to the server's PORT."""
    listing = sh(*in_ns(lab["middle"], "conntrack", "-L", "-p", "tcp", "--dport", str(port)), check=False).stdout
    marks = re.findall(r"mark=(\d+)", listing)
    assert len(marks) == 1, listing
    return int(marks[0])


def app_of(mark: int) -> str | None:
    unpacked = unpack_mark(mark)
    return None if unpacked is None else default_catalog().app_name(unpacked[0])


def test_http_host_and_tls_sni_are_classified_as_the_catalog_says(lab, classifier):
    assert curl(lab, "-H", "Host: www.youtube.com", f"http://{SERVER}/") == "200"
    assert app_of(ct_mark(lab, 80)) == "youtube"
    assert unpack_mark(ct_mark(lab, 80))[2] == "inspected"
    assert curl(lab, "-k", "--resolve", f"zoom.us:443:{SERVER}", "https://zoom.us/") == "200"
    assert app_of(ct_mark(lab, 443)) == "zoom"
    time.sleep(1.5)  # workers report every second
    metrics = classifier.metrics()
    assert metrics['pnsbox_classifier_flows_total{app="youtube",category="video"}'] == 1
    assert metrics['pnsbox_classifier_flows_total{app="zoom",category="conferencing"}'] == 1
    assert metrics['pnsbox_classifier_verdicts_total{confidence="inspected"}'] == 2
    assert metrics["pnsbox_classifier_verdict_latency_seconds_count"] == 2
    assert metrics["pnsbox_classifier_ready"] == 1
    # once marked, a flow leaves the queue: a handful of packets each, not the whole transfer
    assert metrics['pnsbox_classifier_packets_total{queue="0"}'] <= 2 * 12


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_stopped_classifier_leaves_traffic_flowing(lab, classifier, how):
    assert curl(lab, "-H", "Host: www.youtube.com", f"http://{SERVER}/") == "200"
    if how == "SIGKILL":
        os.killpg(classifier.proc.pid, signal.SIGKILL)  # supervisor and workers: a crash
        assert classifier.proc.wait(5) == -signal.SIGKILL
    else:
        classifier.proc.send_signal(signal.SIGTERM)
        assert classifier.proc.wait(10) == 0, classifier.proc.stdout.read()
    sh(*in_ns(lab["middle"], "conntrack", "-F"), check=False)
    assert curl(lab, "-H", "Host: www.youtube.com", f"http://{SERVER}/") == "200"
    assert ct_mark(lab, 80) == 0  # unclassified, but through: --queue-bypass
    queues = sh(*in_ns(lab["middle"], "cat", "/proc/net/netfilter/nfnetlink_queue")).stdout
    assert queues.strip() == ""  # nothing bound any more


def test_a_stalled_classifier_fails_open_and_its_metrics_show_the_overflow(lab, classifier):
    sent = 40_000  # far more new flows than the queue's socket buffer holds
    before = classifier.metrics()
    worker = classifier.worker()

    def sink() -> int:
        listing = sh(*in_ns(lab["server"], "nft", "list", "counter", "inet", "pnscl", "sink")).stdout
        return int(re.search(r"packets (\d+)", listing).group(1))

    delivered_before = sink()
    os.kill(worker, signal.SIGSTOP)
    try:
        sh(*in_ns(lab["client"], sys.executable, "-c", FLOOD, CLIENT, SERVER, str(SINK_PORT), str(sent)))
        time.sleep(0.2)
        held = int(sh(*in_ns(lab["middle"], "cat", "/proc/net/netfilter/nfnetlink_queue")).stdout.split()[2])
        passed = sink() - delivered_before
        # every packet either passed at once or waits in the queue for the stalled process
        assert passed + held == sent
        assert passed > 0 and held > 0
    finally:
        os.kill(worker, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while sink() - delivered_before < sent and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sink() - delivered_before == sent  # nothing lost: the held ones went on after SIGCONT
    time.sleep(1.5)
    after = classifier.metrics()
    received = after['pnsbox_classifier_packets_total{queue="0"}'] - before.get('pnsbox_classifier_packets_total{queue="0"}', 0)
    overflow = after['pnsbox_classifier_queue_overflow_packets_total{queue="0"}']
    assert overflow == passed and received >= held, (overflow, passed, received, held)
    assert after['pnsbox_classifier_queue_kernel_packets_total{queue="0"}'] >= received + overflow
    # fail-open, not loss: the kernel dropped nothing
    assert after['pnsbox_classifier_queue_user_dropped_packets_total{queue="0"}'] == 0
    assert after['pnsbox_classifier_queue_dropped_packets_total{queue="0"}'] == 0

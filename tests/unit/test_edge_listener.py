"""The edge listener (`pnsbox-web --edges`, site.edges_url) and the admin web UI are two
listeners with real sockets: real pnsbox-web processes over HTTPS on loopback, relaying to a
pnsboxd control API on a real Unix socket. The edge listener serves the edge API and nothing
of the admin UI; the admin UI refuses the edge API."""

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pnsbox.control.client import ControlClient
from pnsbox.daemon.api import serve
from pnsbox.daemon.core import Daemon
from pnsbox.edge.keys import new_private_key, public_key
from pnsbox.load import load_text
from pnsbox.validate import build

ROOT = Path(__file__).resolve().parents[2]
SITE = """\
site:
  name: test
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
  wireguard: {tunnel: 10.255.0.0/16}
opds:
  disdik: {name: Disdik, subnet: 10.61.0.0/24, link: {wireguard: {}}}
  dinkes: {name: Dinkes, subnet: 10.21.0.0/24, link: {interface: opd-dinkes}}
policies:
  - {name: it-ssh, from: dinkes, to: disdik, ports: [tcp/22], action: accept}
"""
INSECURE = ssl._create_unverified_context()  # the listeners' self-signed certificates


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answering(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("listeners")
    daemon = Daemon(str(tmp / "state"))
    daemon.config = build(load_text(SITE))
    sock = str(tmp / "control.sock")
    server = serve(sock, daemon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ports = {"edges": free_port(), "admin": free_port()}
    procs = [subprocess.Popen([sys.executable, "-m", "webui.server", *(["--edges"] if name == "edges" else []),
                               "--listen", f"127.0.0.1:{port}", "--state-dir", str(tmp / name), "--socket", sock],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for name, port in ports.items()]
    try:
        deadline = time.monotonic() + 30
        while not all(answering(p) for p in ports.values()):
            assert time.monotonic() < deadline, "pnsbox-web did not start"
            assert all(proc.poll() is None for proc in procs), "pnsbox-web exited"
            time.sleep(0.1)
        yield {"daemon": daemon, "socket": sock, **ports}
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)  # gunicorn's quick shutdown, both at once
        for proc in procs:
            proc.wait(10)
        server.shutdown()
        server.server_close()


def call(port: int, path: str, body: dict | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"https://127.0.0.1:{port}{path}", data=data,
                                     headers={"Content-Type": "application/json"} if data else {})
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=INSECURE),
                                         NoRedirect)  # a redirect to /login is an answer, not something to follow
    try:
        with opener.open(request, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def token(hub) -> str:
    return ControlClient(hub["socket"]).request("POST", "/edges/tokens", {"opd": "disdik"})[1]["token"]


@pytest.mark.parametrize("path", ["/", "/login", "/opds", "/static/app.css", "/api/v1/status", "/api/openapi.json"])
def test_an_admin_page_on_the_edge_listener_is_not_found(hub, path):
    status, text = call(hub["edges"], path)
    assert status == 404 and "only the edge API" in text, (status, text[:200])
    assert call(hub["admin"], "/login")[0] == 200  # the same page is there on the admin listener


def test_nobody_can_sign_in_on_the_edge_listener(hub):
    status, _ = call(hub["edges"], "/login", {"user": "admin", "password": "x"})
    assert status == 404


def test_an_edge_enrols_on_the_edge_listener(hub):
    status, text = call(hub["edges"], "/edges/v1/enroll", {"token": token(hub),
                                                           "public_key": public_key(new_private_key())})
    assert status == 200 and json.loads(text)["opd"] == "disdik", text
    credential = json.loads(text)["credential"]
    status, text = call(hub["edges"], "/edges/v1/config", {"credential": credential})
    config = json.loads(text)
    assert status == 200 and config["lan"] == ["10.61.0.0/24"], text
    # what the hub's policies accept into the OPD reaches the edge through the relay
    assert config["inbound"] == [{"policy": "it-ssh", "from": ["10.21.0.0/24"], "ports": ["tcp/22"], "protocols": []}]


def test_the_edge_api_on_the_admin_listener_is_refused_and_records_nothing(hub):
    issued = token(hub)
    for what, body in (("enroll", {"token": issued, "public_key": public_key(new_private_key())}),
                       ("config", {"credential": "anything"}), ("rotate", {"credential": "x", "public_key": "y"})):
        status, text = call(hub["admin"], f"/edges/v1/{what}", body)
        assert status == 404 and "edge listener" in text, (what, status, text[:200])
    book = json.loads((hub["daemon"].state_dir / "edges.json").read_text())
    assert [t["used"] for t in book["tokens"] if t["opd"] == "disdik"][-1] is None  # the token is still unused
    assert os.path.exists(hub["socket"])

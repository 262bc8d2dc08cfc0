"""pnsboxd's /edges routes over its real control socket (a Daemon on a temporary state
directory, its running config set as an apply would): tokens, enrollment, refusals, audit."""

import threading

import pytest

from pnsbox.control.client import ControlClient
from pnsbox.daemon.api import serve
from pnsbox.daemon.core import Daemon
from pnsbox.edge.keys import new_private_key, public_key
from pnsbox.load import load_text
from pnsbox.validate import build

SITE = """\
site:
  name: test
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
  wireguard: {tunnel: 10.255.0.0/16, listen_port: 51999}
opds:
  dinkes: {name: Dinkes, subnet: 10.21.0.0/24, link: {interface: opd-dinkes}}
  disdik: {name: Disdik, subnet: 10.61.0.0/24, link: {wireguard: {}}}
"""


@pytest.fixture
def daemon(tmp_path):
    running = Daemon(str(tmp_path / "state"))
    running.config = build(load_text(SITE))
    server = serve(str(tmp_path / "control.sock"), running)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield running, str(tmp_path / "control.sock")
    server.shutdown()
    server.server_close()


def test_an_admins_token_enrols_an_edge_which_gets_its_tunnel(daemon):
    running, sock = daemon
    status, issued = ControlClient(sock).request("POST", "/edges/tokens", {"opd": "disdik", "expires": "1h", "author": "ana"})
    assert status == 200 and issued["token"].startswith("pnsbox-")
    key = public_key(new_private_key())
    status, enrolled = ControlClient(sock).request("POST", "/edges/enroll", {"token": issued["token"], "public_key": key,
                                                             "from": "web:203.0.113.9"})
    assert status == 200, enrolled
    assert (enrolled["opd"], enrolled["tunnel_address"], enrolled["subnets"]) == ("disdik", "10.255.0.2/16",
                                                                                   ["10.61.0.0/24"])
    assert enrolled["hub"] == {"public_key": public_key((running.state_dir / "wireguard-hub.key").read_text().strip()),
                               "tunnel_address": "10.255.0.1", "listen_port": 51999, "tunnel": "10.255.0.0/16"}
    status, listed = ControlClient(sock).request("GET", "/edges")
    assert listed["edges"]["disdik"]["public_key"] == key and listed["tokens"][0]["state"] == "used"
    assert "digest" not in listed["tokens"][0] and "credential" not in listed["edges"]["disdik"]
    actions = [(e["action"], e["actor"]) for e in running.audit.entries()]
    assert actions == [("edge-token-add", "ana"), ("edge-enroll", "edge:disdik")]


def test_a_used_token_is_refused_with_403_and_the_refusal_is_audited(daemon):
    running, sock = daemon
    token = ControlClient(sock).request("POST", "/edges/tokens", {"opd": "disdik"})[1]["token"]
    assert ControlClient(sock).request("POST", "/edges/enroll", {"token": token, "public_key": public_key(new_private_key())})[0] == 200
    before = (running.state_dir / "edges.json").read_bytes()
    status, reply = ControlClient(sock).request("POST", "/edges/enroll", {"token": token, "public_key": public_key(new_private_key())})
    assert status == 403 and reply["kind"] == "refused" and "already used" in reply["error"]
    assert (running.state_dir / "edges.json").read_bytes() == before
    assert running.audit.entries()[-1]["action"] == "edge-enroll-refused"


@pytest.mark.parametrize("body, status, message", [
    ({"opd": "dinkes"}, 404, "OPD dinkes has no WireGuard link"),
    ({"opd": "nope"}, 404, "no OPD named nope"),
    ({"opd": "disdik", "expires": "forever"}, 400, "is not a lifetime"),
    ({}, 400, "give `opd`"),
])
def test_bad_token_requests_are_answered_plainly(daemon, body, status, message):
    got, reply = ControlClient(daemon[1]).request("POST", "/edges/tokens", body)
    assert got == status and message in reply["error"], reply
    if got == 404:  # pnsboxd's own words: their code too, for the web UI's Indonesian readers
        from pnsbox.wording import render

        assert render(reply["said"], "en") == reply["error"] and render(reply["said"], "id").startswith(
            ("OPD dinkes tidak punya tautan WireGuard", "tidak ada OPD bernama nope"))


def test_disabling_an_edge_is_recorded_and_audited(daemon):
    running, sock = daemon
    token = ControlClient(sock).request("POST", "/edges/tokens", {"opd": "disdik"})[1]["token"]
    ControlClient(sock).request("POST", "/edges/enroll", {"token": token, "public_key": public_key(new_private_key())})
    assert ControlClient(sock).request("POST", "/edges/disable", {"opd": "disdik"}) == (200, {"opd": "disdik", "disabled": True})
    assert ControlClient(sock).request("GET", "/edges")[1]["edges"]["disdik"]["disabled"]
    assert running.audit.entries()[-1]["action"] == "edge-disable"


@pytest.fixture
def web(daemon, tmp_path):
    """The edge listener's application (pnsbox-web --edges)."""
    from webui.edge_app import create_edge_app
    from webui.settings import Settings

    return create_edge_app(Settings(state_dir=tmp_path / "web", socket=daemon[1])).test_client()


def test_an_edge_enrols_and_fetches_its_config_through_the_edge_listener_without_an_account(daemon, web):
    running, sock = daemon
    token = ControlClient(sock).request("POST", "/edges/tokens", {"opd": "disdik"})[1]["token"]
    key = public_key(new_private_key())
    enrolled = web.post("/edges/v1/enroll", json={"token": token, "public_key": key},
                        environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert enrolled.status_code == 200, enrolled.json
    assert enrolled.json["opd"] == "disdik"
    assert running.audit.entries()[-1]["from"].startswith("web:203.0.113.9")
    fetched = web.post("/edges/v1/config", json={"credential": enrolled.json["credential"]})
    assert fetched.status_code == 200, fetched.json
    config = fetched.json
    assert config["interface"] == {"address": "10.255.0.2/16", "mtu": 1440}
    assert config["hub"]["public_key"] == enrolled.json["hub"]["public_key"]
    assert (config["lan"], config["routes"]) == (["10.61.0.0/24"], ["10.21.0.0/24", "10.255.0.0/16", "0.0.0.0/1",
                                                                  "128.0.0.0/1"])
    assert len(config["digest"]) == 16


def test_the_web_relay_refuses_what_pnsboxd_refuses(daemon, web):
    running, sock = daemon
    assert web.post("/edges/v1/enroll", json={"token": "pnsbox-nope", "public_key": public_key(new_private_key())}
                    ).status_code == 403
    assert web.post("/edges/v1/config", json={"credential": "nope"}).status_code == 403
    assert web.post("/edges/v1/enroll", json={"token": 5}).status_code == 400
    assert not (running.state_dir / "edges.json").exists()


def test_a_disabled_edge_gets_no_config(daemon, web):
    running, sock = daemon
    token = ControlClient(sock).request("POST", "/edges/tokens", {"opd": "disdik"})[1]["token"]
    credential = web.post("/edges/v1/enroll", json={"token": token, "public_key": public_key(new_private_key())}
                          ).json["credential"]
    ControlClient(sock).request("POST", "/edges/disable", {"opd": "disdik"})
    refused = web.post("/edges/v1/config", json={"credential": credential})
    assert refused.status_code == 403 and "disabled" in refused.json["error"]


def test_only_admins_issue_tokens_and_disable_edges(daemon):
    running, sock = daemon
    client = ControlClient(sock)
    for path, body in (("/edges/tokens", {"opd": "disdik"}), ("/edges/disable", {"opd": "disdik"})):
        status, reply = client.request("POST", path, {**body, "author": "opdisdik", "role": "operator"})
        assert status == 403 and "only admins" in reply["error"], reply
    assert not (running.state_dir / "edges.json").exists()


def test_the_edge_routes_speak_the_typed_messages_on_both_sides(daemon):
    """The client's edge methods send and get control.messages dataclasses; pnsboxd reads each body
    with them, so a field of the wrong type is named before anything is done."""
    from pnsbox.control import messages as m

    running, sock = daemon
    client = ControlClient(sock)
    issued = client.edge_token(m.EdgeTokenRequest(opd="disdik", expires="1h", author="ana"))
    assert isinstance(issued, m.EdgeToken) and issued.opd == "disdik" and issued.token.startswith("pnsbox-")
    key, new_key = public_key(new_private_key()), public_key(new_private_key())
    enrolled = client.edge_enroll(m.EnrollRequest(token=issued.token, public_key=key))
    assert (enrolled.opd, enrolled.hub.listen_port, enrolled.subnets) == ("disdik", 51999, ["10.61.0.0/24"])
    config = client.edge_config(m.EdgeConfigRequest(credential=enrolled.credential))
    assert isinstance(config.interface, m.EdgeInterface) and config.lan == ["10.61.0.0/24"]
    rotated = client.edge_rotate(m.RotateRequest(credential=enrolled.credential, public_key=new_key))
    assert (rotated.opd, rotated.public_key) == ("disdik", new_key)
    assert client.edge_disable(m.EdgeRequest(opd="disdik")) == m.EdgeDisabled("disdik", True)
    listing = client.edges()
    # the new key is registered; the old one is the edge's key until the hub sees a handshake with the new one
    assert listing.edges["disdik"].disabled and listing.edges["disdik"].public_key == key
    assert [t.state for t in listing.tokens] == ["used"]
    status, reply = client.request("POST", "/edges/enroll", {"token": issued.token, "public_key": 5})
    assert (status, reply["error"]) == (400, "`public_key` is a string")
    status, reply = client.request("POST", "/edges/tokens", {"opd": "disdik", "expires": 24})
    assert (status, reply["error"]) == (400, "`expires` is a string")

"""Enrol the lab's edges through the path a real edge takes: a one-time token from pnsboxd,
`pnsbox edge enroll URL TOKEN` run inside `edge-OPD` over HTTPS to the hub's edge listener, then
`pnsbox edge run` left running there (lab_down stops it with the node).

pnsboxd must manage the lab's hub and run the site; if nothing answers at site.edges_url
inside the hub, the edge listener (`pnsbox-web --edges`, relaying to the same pnsboxd) is
started there. `pnsbox lab up` does all of it for a site with tunnelled OPDs (`bring_up`)."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from ..apply.netns import made_in
from ..control import messages as m
from ..control.client import ControlClient
from ..errors import PnsboxError
from ..model import Config
from ..store import site_files
from . import hubd
from .topology import EDGE, HUB, LabError, netns_name

ROOT = Path(__file__).resolve().parents[2]


def edge_interface(lab: str, opd: str) -> str:
    """The edge's WireGuard interface: unique on the host (wireguard-go's sockets are global)."""
    return "we" + hashlib.sha1(f"{lab}/{opd}".encode()).hexdigest()[:10]


def _listening(netns: str, host: str, port: int) -> bool:
    probe = made_in(netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    probe.settimeout(1)
    try:
        probe.connect((host, port))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _pnsbox(netns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", netns, sys.executable, "-m", "pnsbox.cli", *argv]


def enrol_edges(config: Config, lab: str, control_socket: str, state_root: str, hub_node: str = HUB) -> list[str]:
    """Enrol every tunnelled OPD's edge of LAB with HUB_NODE (an HA pair's active hub) and start
    it; returns what was done, as lines."""
    tunnelled = [name for name, opd in config.opds.items() if opd.link.is_wireguard]
    if not tunnelled:
        return ["no OPD has a WireGuard link: no edges to enrol"]
    if not config.site.edges_url:
        raise LabError("site.edges_url is needed: it is where the lab's edges enrol (https://HUB-ADDRESS:PORT/)")
    url = config.site.edges_url
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname, parts.port or 443
    root = Path(state_root)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    hub = netns_name(lab, hub_node)
    done = []
    if not _listening(hub, host, port):
        log = open(root / "web.log", "ab")  # noqa: SIM115 -- the detached process keeps it
        # At edges_url, and at the hub's tunnel address: edges register a new key through the tunnel.
        tunnel = config.site.wireguard.hub_address.ip
        subprocess.Popen(["ip", "netns", "exec", hub, sys.executable, "-m", "webui.server", "--edges", "--listen",
                          f"{host}:{port}", "--listen", f"{tunnel}:{port}", "--state-dir", str(root / "web"),
                          "--socket", control_socket],
                         cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while not _listening(hub, host, port):
            if time.monotonic() > deadline:
                raise LabError(f"the edge listener did not start at {host}:{port} in {hub} (see {root}/web.log)")
            time.sleep(0.2)
        done.append(f"the edge listener (pnsbox-web --edges) answers at {url} in the hub")
    for opd in tunnelled:
        try:
            token = ControlClient(control_socket).edge_token(m.EdgeTokenRequest(opd=opd, expires="10m", author="lab"))
        except PnsboxError as exc:
            raise LabError(f"no enrollment token for {opd}: {exc}") from None
        node = netns_name(lab, EDGE + opd)
        state = root / f"{EDGE}{opd}"
        enrolled = subprocess.run(_pnsbox(node, "edge", "enroll", url, token.token, "--state-dir", str(state),
                                          "--interface", edge_interface(lab, opd)),
                                  cwd=ROOT, capture_output=True, text=True)
        if enrolled.returncode != 0:
            raise LabError(f"edge-{opd} did not enrol: {enrolled.stderr.strip() or enrolled.stdout.strip()}")
        log = open(root / f"{EDGE}{opd}.log", "ab")  # noqa: SIM115 -- the detached process keeps it
        subprocess.Popen(_pnsbox(node, "edge", "run", "--state-dir", str(state), "--interval", "5"), cwd=ROOT,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        done.append(f"edge-{opd}: {enrolled.stdout.strip().splitlines()[0]}; `pnsbox edge run` started")
    return done


def wait_running(config: Config, state_root: str, timeout: float = 30) -> list[str]:
    """Wait until every tunnelled OPD's edge runs a config that passed its tunnel check."""
    root, waiting = Path(state_root), [n for n, o in config.opds.items() if o.link.is_wireguard]
    deadline, lines = time.monotonic() + timeout, []
    while waiting and time.monotonic() < deadline:
        for opd in list(waiting):
            try:
                status = json.loads((root / f"{EDGE}{opd}" / "status.json").read_text())
            except (OSError, ValueError):
                continue
            if status.get("running") and not status.get("last_error"):
                waiting.remove(opd)
                lines.append(f"edge-{opd}: its tunnel is up, running the hub's config version {status.get('version')}")
        time.sleep(0.2)
    if waiting:
        raise LabError(f"the edge(s) {', '.join(waiting)} did not bring their tunnel up within {timeout:g} s "
                       f"(see {root}/{EDGE}OPD.log)")
    return lines


def bring_up(config: Config, site_dir: str, lab: str, state_dir: str | None, control_socket: str | None,
             author: str) -> tuple[list[str], m.ApplyReply]:
    """`pnsbox lab up` for a site with tunnelled OPDs: the lab's pnsboxd (unless one answers on
    CONTROL_SOCKET), the site applied through it, then every edge enrolled and running."""
    root = hubd.run_dir(lab)
    state_dir = state_dir or str(root / "state")
    control_socket = control_socket or str(root / "control.sock")
    lines = [note] if (note := hubd.start(lab, state_dir, control_socket)) else []
    reply = ControlClient(control_socket).apply(m.ApplyRequest(
        files=site_files(site_dir), where=str(Path(site_dir).resolve()), message="lab up", author=author,
        from_="local"))
    state_root = str(root / "edges")
    lines += enrol_edges(config, lab, control_socket, state_root)
    lines += wait_running(config, state_root)
    return lines, reply


def bring_up_pair(config: Config, site_dir: str, lab: str, author: str) -> list[str]:
    """`pnsbox lab up` for an HA site with tunnelled OPDs: the site applied to both hubs (each
    its own state directory, its own hub key), one pair key for both, each hub's pnsboxd as
    `--peer`, then every edge enrolled with the active hub; the standby's pnsboxd takes the
    edge book and the hub key over the peer link (pnsbox.daemon.edge_sync), never by hand."""
    from ..daemon import pairkey
    from .failover import wait_for_active

    root, hubs = hubd.run_dir(lab), list(config.site.ha.peers)
    states = root / "state"
    applied = subprocess.run([sys.executable, "-m", "pnsbox.cli", "apply", "-c", site_dir, "--lab", lab,
                              "--state-dir", str(states), "--author", author, "-m", "lab up"],
                             cwd=ROOT, capture_output=True, text=True)
    if applied.returncode != 0:
        raise LabError(f"applying {site_dir} to the lab's hubs failed: {applied.stderr.strip() or applied.stdout.strip()}")
    lines = applied.stdout.strip().splitlines()
    key = pairkey.create(states / netns_name(lab, hubs[0]) / pairkey.FILE)
    for hub in hubs[1:]:
        shutil.copy(key, states / netns_name(lab, hub) / pairkey.FILE)
    sockets = {hub: str(root / f"{hub}.sock") for hub in hubs}
    for hub in hubs:
        note = hubd.start(lab, str(states / netns_name(lab, hub)), sockets[hub], peer=hub)
        lines += [f"{hub}: {note}"] if note else []
    active = wait_for_active(lab, hubs, 30)
    lines += enrol_edges(config, lab, sockets[active], str(root / "edges"), hub_node=active)
    lines += wait_running(config, str(root / "edges"))
    lines.append(f"the edges enrolled with {active}; its peer takes the edge book over the sync link")
    return lines

"""The edge box at work: enrol once, then keep fetching its config from the hub and applying it.

State directory (default /var/lib/pnsbox-edge, root only):
  private.key   the edge's WireGuard private key: made here, never sent anywhere
  edge.json     the hub's URL and pinned certificate, the OPD, the credential, the interface
  history/, confirmed.json, pending.json, applying.json
                the daemon's own records (store.History, state.StateFiles): every config the hub
                sent is a version; the confirmed one runs, and is what the edge goes back to
  status.json   what the edge last saw: hub reachable or not, since when, what runs

A new config goes through the daemon's transaction (pnsboxd's _put_live, its records and its
checks): journal -> a version, pending with a confirm deadline -> applied -> its check, the
daemon's `checks:` run by checks.run_checks (the hub's tunnel address must answer) -> confirmed;
the kernel refusing it, or the check failing, rolls back to the confirmed version. A round that
finds a pending version or a journal (the edge stopped mid-way) settles it first, as pnsboxd's
start does. Fail-static: when the hub cannot be reached the edge keeps what runs and says so in
its status. (The transitions are the daemon's, written for the edge's config: pnsboxd's Daemon
applies site configs through the hub pipeline and DESIGN.md rules out a generic transaction
framework that would let one class drive both.)"""

from __future__ import annotations

import json
import os
import signal
import time
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from ..apply import wg
from ..apply.netns import KernelError, run
from ..apply.nft import PREAMBLE
from ..apply.owned import locked, write_atomic
from ..checks import run_checks
from ..lab.ping import ping
from ..model import Checks
from ..observe.tc import parse_classes
from ..plan import ROUTE_PROTO
from ..state import Journal, Pending, StateFiles
from ..store import History
from . import EDGE_INTERFACE, client
from .keys import new_private_key, public_key
from .render import EdgeWant, render_edge, upload_batch

DEFAULT_INTERFACE = EDGE_INTERFACE
CHECK_SECONDS = 5.0  # after a new config, the hub must answer through the tunnel within this
CONFIG_FILE = "edge-config.json"  # a version's one file: the config the hub sent
RETRY_SECONDS = 60.0  # a config that was rolled back is tried again after this (or when the hub's changes)
HUB = "hub"  # the author of every version an edge records


class EdgeError(Exception):
    """Enrollment or a config refused, with the hub's or the kernel's reason."""


class EdgeState:
    def __init__(self, state_dir: str | Path):
        self.dir = Path(state_dir)

    def _read(self, name: str) -> dict | None:
        try:
            return json.loads((self.dir / name).read_text())
        except FileNotFoundError:
            return None

    def _write(self, name: str, data: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self.dir / name, json.dumps(data, indent=1, sort_keys=True))
        os.chmod(self.dir / name, 0o600)

    @property
    def enrollment(self) -> dict | None:
        return self._read("edge.json")

    @property
    def records(self) -> StateFiles:
        return StateFiles(self.dir)

    @property
    def history(self) -> History:
        return History(self.dir)

    def version(self, number: int) -> dict:
        return json.loads(self.history.get(number).files[CONFIG_FILE])

    @property
    def last_good(self) -> dict | None:
        """The confirmed version's config (config.json on an edge from before versions were kept)."""
        confirmed = self.records.confirmed()
        return self.version(confirmed) if confirmed else self._read("config.json")

    @property
    def status(self) -> dict:
        return self._read("status.json") or {}

    def private_key(self) -> str:
        return (self.dir / "private.key").read_text().strip()

    def note(self, **fields) -> dict:
        status = {**self.status, **fields}
        self._write("status.json", status)
        return status


# The hub records the edge (and spends the one-time token) before it answers: an edge that gave
# up first could never enrol with that token. A slow hub (an emulated one took over 5 s) is waited for.
ENROLL_TIMEOUT = 60.0


def enroll(url: str, token: str, state_dir: str | Path, interface: str = DEFAULT_INTERFACE,
           fingerprint: str | None = None) -> dict:
    """Make a key pair, present the public key and the token to the hub, pin its certificate."""
    state = EdgeState(state_dir)
    private = new_private_key()
    try:
        status, reply, seen = client.post(url, "/edges/v1/enroll", {"token": token, "public_key": public_key(private)},
                                          fingerprint, timeout=ENROLL_TIMEOUT)
    except (client.HubUnreachable, client.PinMismatch) as exc:
        raise EdgeError(str(exc)) from exc
    if status != 200:
        raise EdgeError(f"the hub refused the enrollment: {reply.get('error') or status}")
    _write_key(state, private)
    state._write("edge.json", {"url": url, "fingerprint": seen, "opd": reply["opd"], "credential": reply["credential"],
                               "interface": interface, "enrolled_at": time.time(), "public_key": public_key(private),
                               "hub_public_key": reply["hub"]["public_key"]})
    return reply


def apply_edge(want: EdgeWant, netns: str | None = None) -> list[str]:
    """Make the edge run WANT: interface, peer, address, routes, table. Returns what changed."""
    name = want.interface.name
    changes = []
    if wg.ensure(netns, name):
        changes.append(f"+ interface {name}")
    if wg.sync(netns, want.interface):
        changes.append(f"~ peer {want.interface.peers[0].public_key} at {want.interface.peers[0].endpoint}")
    run(["ip", "link", "set", "dev", name, "mtu", str(want.mtu), "up"], netns)
    have = run(["ip", "-4", "-o", "addr", "show", "dev", name], netns).stdout
    if f" {want.address} " not in have:
        run(["ip", "addr", "flush", "dev", name], netns)
        run(["ip", "addr", "add", want.address, "dev", name], netns)
        changes.append(f"+ address {want.address}")
    changes += _pin_hub(want, netns)
    routes = run(["ip", "-4", "-j", "route", "show", "proto", str(ROUTE_PROTO), "dev", name], netns).stdout
    running = {r["dst"] if "/" in r["dst"] else f"{r['dst']}/32" for r in json.loads(routes or "[]")}
    for route in sorted(set(want.routes) - running):
        run(["ip", "route", "replace", route, "dev", name, "proto", str(ROUTE_PROTO)], netns)
        changes.append(f"+ route {route}")
    for route in sorted(running - set(want.routes)):
        run(["ip", "route", "del", route, "dev", name, "proto", str(ROUTE_PROTO)], netns, check=False)
        changes.append(f"- route {route}")
    changes += _shape_upload(want, netns)
    listed = run(["nft", "list", "table", "inet", "pnsbox"], netns, check=False).stdout
    if f"pnsbox-edge {want.ruleset.digest}" not in listed:
        run(["nft", "-f", "-"], netns, PREAMBLE + want.ruleset.text)
        changes.append(f"~ table inet pnsbox {want.ruleset.digest}")
    return changes


def _shape_upload(want: EdgeWant, netns: str | None) -> list[str]:
    """The tunnel's HTB class at the OPD's upload plan; none when it has no plan."""
    name = want.interface.name
    classes = parse_classes(run(["tc", "-s", "class", "show", "dev", name], netns, check=False).stdout)
    running = (classes[1].rate, classes[1].ceil) if 1 in classes else None
    if want.upload is None:
        if running is not None:
            run(["tc", "qdisc", "del", "dev", name, "root"], netns, check=False)
            return [f"- upload shaping on {name}"]
        return []
    _, ceil = want.upload
    if running and all(abs(have - ceil) <= ceil / 100 for have in running):
        return []  # tc prints rates rounded: within 1% is the same
    run(["tc", "-batch", "-"], netns, "\n".join(upload_batch(want)) + "\n")
    return [f"~ upload shaped at {ceil / 1e6:g} Mbit/s on {name}"]


def _pin_hub(want: EdgeWant, netns: str | None) -> list[str]:
    """Keep the hub's own address on the underlay when the tunnel takes the edge's whole internet:
    a /32 through the underlay's default gateway (WireGuard's packets must not enter the tunnel)."""
    name = want.interface.name
    hub = want.interface.peers[0].endpoint.rsplit(":", 1)[0]
    table = json.loads(run(["ip", "-4", "-j", "route", "show", "table", "main"], netns).stdout or "[]")
    ours = [r for r in table if r.get("protocol") == str(ROUTE_PROTO) or r.get("protocol") == ROUTE_PROTO]
    pins = {r["dst"] for r in ours if r.get("dev") != name}
    underlay = [r for r in table if r not in ours and r.get("dev") != name]
    default = next((r for r in underlay if r["dst"] == "default" and r.get("gateway")), None)
    covered = any(r["dst"] != "default" and "/" in r["dst"] and int(r["dst"].split("/")[1]) > 1
                  and IPv4Address(hub) in IPv4Network(r["dst"], strict=False) for r in underlay)
    changes = []
    if default is not None and not covered and "/" in want.routes[-1] and want.routes[-1].endswith("/1"):
        if hub not in pins:
            run(["ip", "route", "replace", f"{hub}/32", "via", default["gateway"], "dev", default["dev"], "proto",
                 str(ROUTE_PROTO)], netns)
            changes.append(f"+ route {hub}/32 via {default['gateway']} (the hub, outside the tunnel)")
        pins.discard(hub)
    for stale in pins:
        run(["ip", "route", "del", stale, "proto", str(ROUTE_PROTO)], netns, check=False)
        changes.append(f"- route {stale}")
    return changes


def _want(state: EdgeState, config: dict) -> EdgeWant:
    enrolled = state.enrollment
    endpoint = f"{client.endpoint_host(enrolled['url'])}:{config['hub']['port']}"
    return render_edge(config, enrolled["interface"], state.private_key(), endpoint)


def sync_once(state_dir: str | Path, netns: str | None = None, check_seconds: float = CHECK_SECONDS) -> dict:
    """One round: fetch the config (or keep the last good one), apply what changed, say so."""
    with locked(state_dir, "edge.lock"):  # not while `pnsbox edge rotate` changes the key
        return _sync_once(state_dir, netns, check_seconds)


def rotate(state_dir: str | Path, netns: str | None = None) -> dict:
    """A new key pair. The new public key is registered through the tunnel (the hub's edge
    listener at its tunnel address, the pinned certificate, the credential), not over the public
    address; the hub keeps the current key carrying the edge's traffic until it sees the edge
    shake hands with the new one, which the edge switches to as soon as the hub has answered."""
    with locked(state_dir, "edge.lock"):
        state = EdgeState(state_dir)
        enrolled = state.enrollment
        if enrolled is None:
            raise EdgeError("not enrolled: nothing to rotate")
        good = state.last_good
        if good is None:
            raise EdgeError("no tunnel runs yet: a new key is registered through the tunnel")
        private = new_private_key()
        _, port, base = client.split_url(enrolled["url"])
        through_tunnel = f"https://{good['hub']['tunnel_address']}:{port}{base}/"
        try:
            status, reply, _ = client.post(through_tunnel, "/edges/v1/rotate",
                                           {"credential": enrolled["credential"], "public_key": public_key(private)},
                                           enrolled["fingerprint"])
        except (client.HubUnreachable, client.PinMismatch) as exc:
            raise EdgeError(f"the key was not rotated: {exc}") from exc
        if status != 200:
            raise EdgeError(f"the hub refused the new key: {reply.get('error') or status}")
        _write_key(state, private)
        state._write("edge.json", {**enrolled, "public_key": public_key(private), "key_since": time.time()})
        apply_edge(_want(state, good), netns)  # the new private key, now
        ping(good["hub"]["tunnel_address"], 1.0, netns=netns)  # the first packet shakes hands with the new key
        return {**reply, "through": through_tunnel}


def _write_key(state: EdgeState, private: str) -> None:
    state.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path = state.dir / "private.key"
    fd = os.open(key_path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(private + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(key_path.with_suffix(".tmp"), key_path)


def _check(config: dict, check_seconds: float, netns: str | None) -> list[str]:
    """The daemon's checks, for the edge: the hub's tunnel address must answer through the tunnel."""
    if not check_seconds:
        return []
    return run_checks(Checks(reach=[IPv4Address(config["hub"]["tunnel_address"])], timeout=check_seconds), netns)


def _put_live(state: EdgeState, config: dict, netns: str | None, check_seconds: float) -> list[str]:
    """pnsboxd's apply, on the edge: journal -> a recorded version, pending until its check holds
    (deadline: the check's time) -> confirmed; refused or failing, back to the confirmed version
    (then raises EdgeError saying so)."""
    records = state.records
    previous = records.confirmed()
    now = time.time()
    records.set_journal(Journal(previous, now, HUB))
    latest = state.history.latest()
    if latest is not None and latest.digest == config["digest"] and latest.id != previous:
        version = latest  # tried before and rolled back: the same version, not a new one per try
    else:
        version = state.history.record({CONFIG_FILE: json.dumps(config, sort_keys=True)}, HUB,
                                       f"hub version {config['version']}, config {config['digest']}",
                                       config["digest"], parent=previous)
    records.set_pending(Pending(version.id, now + check_seconds, previous, HUB))
    records.set_journal(None)
    try:
        changes = apply_edge(_want(state, config), netns)
        failures = _check(config, check_seconds, netns)
        if failures:
            raise EdgeError(f"its check failed: {'; '.join(failures)} (the hub, through the tunnel, within "
                            f"{check_seconds:g} s)")
    except (KernelError, EdgeError) as exc:
        raise EdgeError(f"version {version.id} (config {config['digest']}) {_revert(state, str(exc), netns)}") from exc
    _confirm(records, version.id)
    return changes


def _confirm(records: StateFiles, version: int) -> None:
    """-> CONFIRMED: the version runs, and is what a later failure goes back to."""
    records.set_confirmed(version)
    records.set_pending(None)
    records.set_journal(None)


def _revert(state: EdgeState, why: str, netns: str | None) -> str:
    """PENDING v -> CONFIRMED r, the kernel running r again (pnsboxd's revert); says what happened."""
    records = state.records
    pending = records.pending()
    target = pending.rollback_to if pending else records.confirmed()
    records.set_pending(None)
    records.set_journal(None)
    good = state.version(target) if target else state._read("config.json")
    if good is not None:
        apply_edge(_want(state, good), netns)
    back = f"version {target}" if target else ("the config it ran before" if good else "nothing: none ran before")
    return f"rolled back to {back}: {why}"


def _settle(state: EdgeState, netns: str | None, check_seconds: float) -> str | None:
    """A round finds the edge stopped mid-transaction (pnsboxd's start): a pending version is
    checked now and confirmed or rolled back; a journal alone (stopped before the version was
    recorded) puts the confirmed version back."""
    records = state.records
    pending = records.pending()
    if pending is not None:
        config = state.version(pending.version)
        if not _check(config, check_seconds, netns):
            _confirm(records, pending.version)
            return f"version {pending.version} passed its check after a restart: confirmed"
        return f"version {pending.version} {_revert(state, 'its check failed after a restart', netns)}"
    if records.journal() is not None:
        return _revert(state, "an apply was cut off", netns)
    return None


def _sync_once(state_dir: str | Path, netns: str | None, check_seconds: float) -> dict:
    state = EdgeState(state_dir)
    enrolled = state.enrollment
    if enrolled is None:
        raise EdgeError(f"not enrolled (no {state.dir / 'edge.json'}): run `pnsbox edge enroll URL TOKEN`")
    settled = _settle(state, netns, check_seconds)
    now = time.time()
    good = state.last_good
    try:
        status, reply, _ = client.post(enrolled["url"], "/edges/v1/config",
                                       {"credential": enrolled["credential"], "public_key": enrolled["public_key"]},
                                       enrolled["fingerprint"])
    except (client.HubUnreachable, client.PinMismatch) as exc:
        if good is not None:  # fail-static: what ran keeps running (applied again if it is not there)
            apply_edge(_want(state, good), netns)
        since = state.status.get("unreachable_since") if state.status.get("hub_reachable") is False else now
        return state.note(hub_reachable=False, unreachable_since=since, last_error=str(exc), checked=now,
                          running=good and good["digest"], version=good and good["version"], settled=settled)
    if status != 200:
        if good is not None:
            apply_edge(_want(state, good), netns)
        return state.note(hub_reachable=True, unreachable_since=None, checked=now, last_contact=now,
                          last_error=f"the hub refused the config: {reply.get('error') or status}",
                          running=good and good["digest"], version=good and good["version"], settled=settled)
    fresh = good is None or reply["digest"] != good["digest"]
    failed = state.status.get("rolled_back") or {}
    if fresh and good is not None and failed.get("digest") == reply["digest"] and now - failed["time"] < RETRY_SECONDS:
        apply_edge(_want(state, good), netns)  # it failed its check a moment ago: keep the confirmed one for now
        return state.note(hub_reachable=True, unreachable_since=None, checked=now, last_contact=now,
                          last_error=f"config {reply['digest']} was rolled back; tried again "
                                     f"{RETRY_SECONDS - (now - failed['time']):.0f} s from now",
                          running=good["digest"], version=good["version"], settled=settled)
    try:
        changes = _put_live(state, reply, netns, check_seconds) if fresh else apply_edge(_want(state, reply), netns)
    except (KernelError, EdgeError) as exc:
        good = state.last_good
        return state.note(hub_reachable=True, unreachable_since=None, checked=now, last_contact=now,
                          last_error=str(exc), running=good and good["digest"], version=good and good["version"],
                          confirmed=state.records.confirmed(), settled=settled,
                          rolled_back={"digest": reply["digest"], "time": time.time(), "why": str(exc)})
    if not fresh and not ping(reply["hub"]["tunnel_address"], 0.5, netns=netns):
        # The hub answers over HTTPS but not through the tunnel: it lost our session (restarted,
        # its interface made anew). Forget ours too, so the next packet shakes hands at once
        # instead of after WireGuard's own rekey timeout.
        _new_session(_want(state, reply), reply["hub"]["tunnel_address"], netns)
        changes = [*changes, "~ session: handshake again (the hub did not answer through the tunnel)"]
    return state.note(hub_reachable=True, unreachable_since=None, checked=now, last_contact=now, last_error=None,
                      running=reply["digest"], version=reply["version"], confirmed=state.records.confirmed(),
                      changes=changes, settled=settled, rolled_back=None)


def _new_session(want: EdgeWant, hub_address: str, netns: str | None) -> None:
    """Drop the peer and put it back: its session goes, and the ping after it starts a handshake."""
    run(["wg", "set", wg.control_name(netns, want.interface.name), "peer", want.interface.peers[0].public_key, "remove"], netns)
    wg.sync(netns, want.interface)
    ping(hub_address, 1.0, netns=netns)


class EdgeCollector:
    """The edge's own Prometheus metrics, from its status file (what the last round saw)."""

    def __init__(self, state_dir: str | Path):
        self.state = EdgeState(state_dir)

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        status = self.state.status
        reachable = GaugeMetricFamily("pnsbox_edge_hub_reachable", "1 when the last round reached the hub over HTTPS")
        reachable.add_metric([], 1 if status.get("hub_reachable") else 0)
        version = GaugeMetricFamily("pnsbox_edge_config_version", "The hub's config version this edge runs")
        version.add_metric([], status.get("version") or 0)
        contact = GaugeMetricFamily("pnsbox_edge_last_contact_timestamp_seconds", "When the hub last answered")
        contact.add_metric([], status.get("last_contact") or 0)
        yield from (reachable, version, contact)


def serve_metrics(state_dir: str | Path, listen: str) -> None:
    from prometheus_client import CollectorRegistry, start_http_server

    host, _, port = listen.rpartition(":")
    registry = CollectorRegistry()
    registry.register(EdgeCollector(state_dir))
    start_http_server(int(port), host or "127.0.0.1", registry=registry)


def key_due(state_dir: str | Path, rotate_days: float | None, now: float | None = None) -> bool:
    """True when the edge's key is older than ROTATE_DAYS (None or 0: never rotate by itself)."""
    enrolled = EdgeState(state_dir).enrollment
    if not rotate_days or enrolled is None:
        return False
    since = enrolled.get("key_since") or enrolled.get("enrolled_at") or 0
    return (time.time() if now is None else now) - since >= rotate_days * 86400


def run_forever(state_dir: str | Path, interval: float = 10.0, netns: str | None = None,
                metrics_listen: str | None = None, rotate_days: float | None = None) -> int:
    """`pnsbox edge run`: a round every INTERVAL seconds until SIGTERM; a new key every
    ROTATE_DAYS days when given."""
    if metrics_listen:
        serve_metrics(state_dir, metrics_listen)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    while not stopping:
        try:
            if key_due(state_dir, rotate_days):
                reply = rotate(state_dir, netns)
                print(json.dumps({"rotated": reply.get("public_key")}), flush=True)
            status = sync_once(state_dir, netns)
            print(json.dumps({k: status.get(k) for k in ("hub_reachable", "running", "version", "last_error",
                                                           "changes")}), flush=True)
        except (EdgeError, KernelError, OSError) as exc:
            print(f"error: {exc}", flush=True)
        deadline = time.monotonic() + interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
    return 0

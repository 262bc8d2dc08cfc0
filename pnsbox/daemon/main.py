"""`pnsboxd`: start from the confirmed config, serve the control API, tick once a second."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from ..control.client import DEFAULT_SOCKET
from ..sdnotify import notify
from . import pairkey
from .api import serve
from .core import Daemon
from .metrics import DEFAULT_LISTEN
from .peer import PeerLink, parse_peers
from .statedir import StateDirBusy, StateDirMismatch

TICK_SECONDS = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pnsboxd", description="the pnsbox daemon")
    parser.add_argument("--state-dir", default=os.environ.get("PNSBOX_STATE_DIR", "/var/lib/pnsbox"))
    parser.add_argument("--socket", default=os.environ.get("PNSBOX_SOCKET", DEFAULT_SOCKET))
    parser.add_argument("--netns", help="manage this network namespace (labs and tests)")
    parser.add_argument("--metrics-listen", default=os.environ.get("PNSBOX_METRICS_LISTEN", DEFAULT_LISTEN),
                        help=f"ADDRESS:PORT of the Prometheus endpoint, or `off` (default {DEFAULT_LISTEN})")
    parser.add_argument("--usage-interval", type=float, default=60.0, metavar="SECONDS",
                        help="how often the per-OPD counters are sampled into the usage book and the rate "
                             "series (default 60; 1 in labs and tests)")
    parser.add_argument("--peer", default=os.environ.get("PNSBOX_HA_PEER"), metavar="NAME",
                        help="this hub's name in the site's HA pair (site.ha.peers): replicate with the other hub")
    parser.add_argument("--ha-peers", default=os.environ.get("PNSBOX_HA_PEERS"), metavar="NAME=ADDR,NAME=ADDR",
                        help="the pair's sync addresses until a version with site.ha runs here (a new standby)")
    parser.add_argument("--pair-key", metavar="FILE",
                        help="the key both hubs share (default STATE-DIR/ha.key; `pnsbox ha pair-key` makes it)")
    args = parser.parse_args(argv)
    if not 0.5 <= args.usage_interval <= 3600:
        parser.error("--usage-interval is from 0.5 to 3600 seconds")
    try:
        fallback_peers = parse_peers(args.ha_peers) if args.ha_peers else None
        key = pairkey.read(args.pair_key or os.path.join(args.state_dir, pairkey.FILE)) if args.peer else None
    except (ValueError, pairkey.PairKeyError) as exc:
        print(f"pnsboxd: {exc}", file=sys.stderr, flush=True)
        return 1

    daemon = Daemon(args.state_dir, args.netns, args.usage_interval, peer=args.peer)
    try:
        daemon.claim("pnsboxd", os.path.abspath(args.socket))
    except (StateDirBusy, StateDirMismatch) as exc:
        print(f"pnsboxd: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        print(f"pnsboxd: {daemon.start()}", flush=True)
    except Exception as exc:  # the box keeps what it has; the admin can still apply and roll back
        print(f"pnsboxd: could not restore the running version: {exc}", flush=True)
    daemon.heap.settle()
    if args.peer:
        daemon.ha = PeerLink(daemon, args.peer, key, fallback_peers)
        try:
            daemon.ha.pair()
        except ValueError as exc:  # --peer names no hub of the running config's pair
            print(f"pnsboxd: {exc}", file=sys.stderr, flush=True)
            return 1
    elif daemon.config is not None and getattr(daemon.config.site, "ha", None) is not None:
        peers = " or ".join(f"--peer {name}" for name in daemon.config.site.ha.peers)
        print(f"pnsboxd: this site is an HA pair, but no --peer says which hub this is ({peers}): "
              "nothing is replicated", flush=True)
    server = serve(args.socket, daemon)
    if args.metrics_listen != "off":
        metrics = daemon.metrics.serve(args.metrics_listen)
        print(f"pnsboxd: metrics on http://{args.metrics_listen.rpartition(':')[0]}:{metrics.server_port}/metrics",
              flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if daemon.ha is not None:
        threading.Thread(target=daemon.ha.run, args=(stop,), name="peer-sync", daemon=True).start()
    notify("READY=1")
    while not stop.wait(TICK_SECONDS):
        try:
            event = daemon.tick()
        except Exception as exc:  # a failed repair is retried next tick, never fatal
            event = f"tick failed: {exc}"
        if event:
            print(f"pnsboxd: {event}", flush=True)
        notify("WATCHDOG=1")
    server.shutdown()
    server.server_close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(args.socket)  # nobody may mistake a stale socket for a running daemon
    return 0


if __name__ == "__main__":
    sys.exit(main())

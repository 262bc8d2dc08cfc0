"""`pnsbox edge ...`: the hub's side (tokens, the list of edges, disabling one).

Through pnsboxd when it runs (it owns the state directory and the running config); without
it, the same code runs in process on --state-dir with the site given by -c."""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..errors import PnsboxError, as_pnsbox_error

EXIT_CONFIG, EXIT_KERNEL, EXIT_REFUSED = 1, 3, 4


def add_arguments(parser: argparse.ArgumentParser, default_config: str, default_state: str) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest="edge_command", required=True)

    def common(p):
        p.add_argument("-c", "--config", default=default_config,
                       help="the site (used when pnsboxd is not running)")
        p.add_argument("--state-dir", default=default_state, help="where pnsbox keeps its state")
        p.add_argument("--socket", default=os.environ.get("PNSBOX_SOCKET", "/run/pnsbox/control.sock"),
                       help="pnsboxd's control socket")
        p.add_argument("--author", help="who (default: the user running pnsbox)")
        return p

    token = sub.add_parser("token", help="one-time enrollment tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    add = common(token_sub.add_parser("add", help="a new token for OPD's edge (printed once)"))
    add.add_argument("opd", metavar="OPD")
    add.add_argument("--expires", default="24h", help="lifetime: 30m, 24h, 7d (default 24h; at most 30d)")
    common(token_sub.add_parser("list", help="the tokens: OPD, state, expiry"))
    common(sub.add_parser("list", help="tunnelled OPDs and their edges"))
    for name, what in (("disable", "cut an OPD's edge off (revoke)"), ("enable", "let a disabled edge in again")):
        common(sub.add_parser(name, help=what)).add_argument("opd", metavar="OPD")

    # On the edge box itself.
    from . import EDGE_INTERFACE as DEFAULT_INTERFACE
    from . import EDGE_STATE_DIR as EDGE_STATE

    def on_edge(p):
        p.add_argument("--state-dir", default=EDGE_STATE, help=f"the edge's state (default {EDGE_STATE})")
        return p

    enroll = on_edge(sub.add_parser("enroll", help="on the edge: enrol with the hub, then fetch and apply its config"))
    enroll.add_argument("url", metavar="URL", help="the hub's edges_url, https://...")
    enroll.add_argument("token", metavar="TOKEN", help="from `pnsbox edge token add OPD` on the hub")
    enroll.add_argument("--interface", default=DEFAULT_INTERFACE,
                        help=f"the edge's WireGuard interface (default {DEFAULT_INTERFACE}; unique on the host)")
    enroll.add_argument("--fingerprint", help="the hub certificate's SHA-256, checked before the token is sent "
                                              "(default: trusted on first use, then pinned)")
    run_parser = on_edge(sub.add_parser("run", help="on the edge: keep fetching and applying the hub's config"))
    run_parser.add_argument("--interval", type=float, default=10.0, help="seconds between rounds (default 10)")
    run_parser.add_argument("--metrics-listen", default="127.0.0.1:9470", metavar="ADDR:PORT",
                            help="the edge's Prometheus metrics (default 127.0.0.1:9470; `off` for none)")
    run_parser.add_argument("--rotate-days", type=float, metavar="N",
                            help="make a new key pair by itself when the key is N days old (default: never)")
    on_edge(sub.add_parser("status", help="on the edge: what runs, and whether the hub is reachable"))
    on_edge(sub.add_parser("rotate", help="on the edge: a new key pair, registered with the hub, used at once"))
    return parser


def _ask(args, method: str, endpoint: str, body: dict | None = None) -> tuple[int, dict]:
    """(status, reply) through pnsboxd's typed edge routes, or from the same code in process;
    either way the reply is the JSON of its control.messages answer."""
    from ..cli import _actor
    from ..control import messages as m

    who, origin, port = _actor()
    author = args.author or who
    body = body or {}
    try:
        if args.socket and os.path.exists(args.socket):
            from ..control.client import ControlClient

            client, signed = ControlClient(args.socket), {"author": author, "from_": origin, "port": port}
            if endpoint == "/edges":
                return 200, m.to_json(client.edges())
            if endpoint == "/edges/tokens":
                return 200, m.to_json(client.edge_token(m.EdgeTokenRequest(**body, **signed)))
            toggle = client.edge_disable if endpoint.endswith("disable") else client.edge_enable
            return 200, m.to_json(toggle(m.EdgeRequest(**body, **signed)))
        from ..edge import hub
        from ..edge.book import EdgeBook
        from ..load import load_site
        from ..store import AuditLog
        from ..validate import build

        book, audit = EdgeBook(args.state_dir), AuditLog(args.state_dir)
        config = build(load_site(args.config))
        if endpoint == "/edges":
            return 200, m.to_json(m.parse(m.EdgeListing, hub.listing(book, config)))
        if endpoint == "/edges/tokens":
            return 200, m.to_json(m.parse(m.EdgeToken, hub.issue_token(book, audit, config, body["opd"],
                                                                       body["expires"], author, origin)))
        return 200, m.to_json(m.parse(m.EdgeDisabled, hub.set_disabled(book, audit, body["opd"],
                                                                       endpoint.endswith("disable"), author, origin)))
    except (PnsboxError, LookupError, ValueError) as exc:  # answered as pnsboxd would answer them (errors.py)
        error = as_pnsbox_error(exc)
        return error.http_status, error.reply()


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp)) if timestamp else "-"


def _on_edge(args) -> int:
    import json

    from .runtime import EdgeError, EdgeState, enroll, rotate, run_forever, sync_once

    try:
        if args.edge_command == "enroll":
            reply = enroll(args.url, args.token, args.state_dir, args.interface, args.fingerprint)
            pinned = EdgeState(args.state_dir).enrollment["fingerprint"]
            print(f"enrolled as the edge of {reply['opd']}, tunnel {reply['tunnel_address']}; "
                  f"hub certificate pinned: {pinned}")
            status = sync_once(args.state_dir)
            print(f"config {status.get('running')} applied" if not status.get("last_error")
                  else f"error: {status['last_error']}")
            return 0 if not status.get("last_error") else EXIT_KERNEL
        if args.edge_command == "run":
            return run_forever(args.state_dir, args.interval,
                               metrics_listen=None if args.metrics_listen == "off" else args.metrics_listen,
                               rotate_days=args.rotate_days)
        if args.edge_command == "rotate":
            reply = rotate(args.state_dir)
            print(f"{reply['opd']}: new key {reply['public_key']} registered through the tunnel ({reply['through']}) "
                  "and in use; the hub moves the edge's traffic to it once it sees a handshake with it")
            return 0
        print(json.dumps(EdgeState(args.state_dir).status, indent=1, sort_keys=True))
        return 0
    except EdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED if "refused" in str(exc) else EXIT_KERNEL


def run(args) -> int:
    if args.edge_command in ("enroll", "run", "status", "rotate"):
        return _on_edge(args)
    if args.edge_command == "token" and args.token_command == "add":
        status, reply = _ask(args, "POST", "/edges/tokens", {"opd": args.opd, "expires": args.expires})
    elif args.edge_command in ("disable", "enable"):
        status, reply = _ask(args, "POST", f"/edges/{args.edge_command}", {"opd": args.opd})
    else:
        status, reply = _ask(args, "GET", "/edges")
    if status != 200:
        print(f"{'refused' if status == 403 else 'error'}: {reply.get('error')}", file=sys.stderr)
        return {400: EXIT_CONFIG, 404: EXIT_CONFIG, 403: EXIT_REFUSED}.get(status, EXIT_KERNEL)
    if args.edge_command == "token" and args.token_command == "add":
        print(reply["token"])
        print(f"token {reply['id']} enrols the edge of {reply['opd']} once, until {_when(reply['expires'])}; "
              "it is shown only now", file=sys.stderr)
    elif args.edge_command == "token":
        print(f"{'id':>4}  {'opd':<20} {'state':<8} {'expires':<21} {'used':<21} author")
        for t in reply["tokens"]:
            print(f"{t['id']:>4}  {t['opd']:<20} {t['state']:<8} {_when(t['expires']):<21} {_when(t['used']):<21} "
                  f"{t['author']}")
    elif args.edge_command == "list":
        print(f"{'opd':<20} {'edge':<10} {'tunnel':<18} {'key since':<21} public key")
        for opd, e in reply["edges"].items():
            state = ("disabled" if e.get("disabled") else "enrolled") if e["enrolled"] else "none yet"
            state += "" if e["in_config"] else " (not in config)"
            print(f"{opd:<20} {state:<10} {e.get('tunnel_address') or '-':<18} {_when(e.get('key_since')):<21} "
                  f"{e.get('public_key') or '-'}")
    else:
        print(f"{reply['opd']}: edge {'disabled' if reply['disabled'] else 'enabled'}")
    return 0

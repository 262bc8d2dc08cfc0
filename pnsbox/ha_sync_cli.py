"""`pnsbox ha pair-key | resolve | status`: the HA pair's replication, as an admin sees it.

The pair key is made on one hub and copied to the other (both pnsboxd read it); `status` asks
this hub's pnsboxd how the pair looks; `resolve` ends a split brain by keeping one hub's side.
"""

from __future__ import annotations

import os
import sys
import time


def pair_key(args) -> int:
    from .daemon import pairkey

    path = args.key or os.path.join(args.state_dir, pairkey.FILE)
    try:
        pairkey.create(path)
    except FileExistsError as exc:
        print(f"pnsbox: {exc}", file=sys.stderr)
        return 1
    print(f"made {path}: copy it to the same place on the other hub (root only, mode 600), then start "
          "pnsboxd with --peer on both")
    return 0


def _ago(when: float | None) -> str:
    return f"{time.time() - when:.1f} s ago" if when else "never"


def describe(pair: dict) -> list[str]:
    """The daemon's GET /ha as lines for a person."""
    if not pair.get("enabled"):
        return ["this pnsboxd runs no HA pair (start it with --peer NAME)"]
    if pair.get("error"):
        return [f"{pair['me']}: {pair['error']}"]
    pending = pair.get("peer_pending")
    lines = [f"{pair['me']} (this hub): {pair['role']}, runs version {pair['running'] or '-'} "
             f"(confirmed {pair['confirmed'] or '-'}, newest {pair['latest'] or '-'}), "
             f"{pair['transitions']} role change(s)"
             + (f", peer API on {pair['address']}:{pair['port']}" if pair.get("listening") else ", peer API not listening")]
    if pair.get("peer") is None:
        return [*lines, "peer: unknown until a version with site.ha runs (or pnsboxd --ha-peers)"]
    if pair.get("reachable"):
        lines.append(f"{pair['peer']} (peer at {pair['peer_address']}): {pair['peer_role']}, runs version "
                     f"{pair['peer_running'] or '-'} (confirmed {pair['peer_confirmed'] or '-'}, newest "
                     f"{pair['peer_latest'] or '-'})" + (f", version {pending['version']} awaits its confirm"
                                                        if pending else "") + f"; last sync {_ago(pair['last_sync'])}")
    else:
        lines.append(f"{pair['peer']} (peer at {pair['peer_address']}): NOT REACHABLE "
                     f"({pair.get('last_error') or 'no answer yet'}); last sync {_ago(pair['last_sync'])}")
    split = pair.get("split_brain")
    if split:
        lines.append(f"SPLIT BRAIN since {_ago(split['since'])}: the hubs hold different versions from version "
                     f"{split['fork']} on; nothing is overwritten. Keep one side: `pnsbox ha resolve --keep "
                     f"{pair['me']}` or `--keep {pair['peer']}` (the other side's versions are set aside, not deleted)")
    else:
        lines.append("split brain: none")
    if pair.get("refused_requests"):
        lines.append(f"refused requests on the peer port: {pair['refused_requests']} (see `pnsbox audit`)")
    return lines


def status(args) -> int:
    from .control.client import ControlClient

    pair = ControlClient(args.socket).ha()
    for line in describe(pair):
        print(line)
    return 2 if pair.get("split_brain") else 0


def resolve(args) -> int:
    from .cli import _client, _signed
    from .control.messages import ResolveRequest

    done = _client(args).ha_resolve(ResolveRequest(keep=args.keep, **_signed(args)))
    print(f"kept {done['kept']}'s versions; {done['on']} set its own aside in {done['aside']} and catches up "
          f"from {done['kept']}")
    return 0


def daemon_runs(args) -> bool:
    return bool(args.socket) and os.path.exists(args.socket)


def add_status_arguments(status_parser) -> None:
    """`ha status --socket`: pnsboxd's view of the pair (replication, split brain) too."""
    status_parser.add_argument("--socket", default=os.environ.get("PNSBOX_SOCKET", "/run/pnsbox/control.sock"),
                               help="this hub's pnsboxd control socket: when it runs, the pair as pnsboxd sees it "
                                    "(versions, the peer's reachability, a split brain; exit 2 during one)")


def add_arguments(ha_sub, default_state: str) -> None:
    """The replication commands of the `pnsbox ha` group (ha status is cli.cmd_ha's)."""
    socket_default = os.environ.get("PNSBOX_SOCKET", "/run/pnsbox/control.sock")
    key = ha_sub.add_parser("pair-key", help="make the key both hubs of the pair share (copy it to the other)")
    key.add_argument("--state-dir", default=default_state, help="where pnsboxd keeps its state (the key goes there)")
    key.add_argument("--key", metavar="FILE", help="another place for the key (pnsboxd --pair-key)")
    key.set_defaults(ha_sync=pair_key)
    ending = ha_sub.add_parser("resolve", help="end a split brain: keep one hub's versions; the other hub sets its "
                               "own aside (kept, not deleted) and catches up (audited)")
    ending.add_argument("--keep", required=True, metavar="HUB", help="the hub whose versions the pair keeps")
    ending.add_argument("--author", help="who (default: the user running pnsbox)")
    ending.add_argument("--socket", default=socket_default, help="this hub's pnsboxd control socket")
    ending.set_defaults(ha_sync=resolve)

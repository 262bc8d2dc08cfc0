"""`pnsbox user add|passwd|del|list`: the web UI's accounts from the shell (run as root or pnsbox-web)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from pnsbox.wording import say


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--web-state-dir", default=os.environ.get("PNSBOX_WEB_STATE_DIR", "/var/lib/pnsbox-web"),
                        help="the web UI's state directory (default /var/lib/pnsbox-web)")
    parser.add_argument("--socket", default=os.environ.get("PNSBOX_SOCKET", "/run/pnsbox/control.sock"),
                        help="pnsboxd's control socket, for the audit trail")
    sub = parser.add_subparsers(dest="user_command", required=True)
    add = sub.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["admin", "operator", "auditor"])
    add.add_argument("--opd", action="append", default=[], help="an OPD an operator may see (repeat)")
    add.add_argument("--lang", default="id", choices=["id", "en"])
    for name, help_text in (("passwd", "set a user's password"), ("del", "delete a user")):
        sub.add_parser(name, help=help_text).add_argument("name")
    sub.add_parser("list", help="list users")
    for p in (add, sub.choices["passwd"]):
        p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    return parser


def _password(args) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the passwords differ; nothing changed")
    return first


def _audit(args, action: str, detail: str) -> None:
    """Account changes go to the daemon's audit trail when it runs."""
    if not os.path.exists(args.socket):
        return
    from pnsbox.control.client import ControlClient
    from pnsbox.control.messages import AuditEventRequest
    from pnsbox.errors import PnsboxError
    from pnsbox.wording import structured

    who = os.environ.get("SUDO_USER") or getpass.getuser()
    try:
        ControlClient(args.socket, timeout=10).audit_event(
            AuditEventRequest(action=action, detail=str(detail), said=structured(detail), author=who, from_="local"))
    except PnsboxError as exc:
        print(f"note: not recorded in the audit trail: {exc}", file=sys.stderr)


def run(args) -> int:
    from pathlib import Path

    from .accounts import AccountError, AccountStore

    store = AccountStore(Path(args.web_state_dir) / "users.json")
    try:
        if args.user_command == "list":
            for user in sorted(store.users().values(), key=lambda u: u.name):
                scope = f" ({', '.join(user.opds)})" if user.opds else ""
                print(f"{user.name:20} {user.role}{scope}  lang={user.lang}  tokens={len(user.tokens)}")
        elif args.user_command == "add":
            store.add(args.name, args.role, _password(args), args.opd, args.lang)
            _audit(args, "user-add", say("audit.user-add.opds", name=args.name, role=args.role, opds=", ".join(args.opd))
                   if args.opd else say("audit.user-add", name=args.name, role=args.role))
            print(f"user {args.name} added ({args.role})")
        elif args.user_command == "passwd":
            store.set_password(args.name, _password(args))
            _audit(args, "user-passwd", say("audit.user-passwd", name=args.name))
            print(f"password of {args.name} changed; their web sessions and API tokens have ended")
        elif args.user_command == "del":
            store.delete(args.name)
            _audit(args, "user-del", say("audit.user-del", name=args.name))
            print(f"user {args.name} deleted")
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0

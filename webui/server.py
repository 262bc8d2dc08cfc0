"""`pnsbox-web`: serve the web UI with gunicorn (threads in one worker: the sessions and the login
throttle live in its memory). HTTPS with the admin's certificate or a self-signed one made at first
start; plain HTTP only on loopback (for a local reverse proxy, the demo, tests)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from gunicorn.app.base import BaseApplication

from .settings import DEFAULT_SOCKET, DEFAULT_STATE, Settings

EDGES_LISTEN = ("0.0.0.0", 8444)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text}: give HOST:PORT, like 0.0.0.0:443")
    return host.strip("[]"), int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pnsbox-web", description="the pnsbox web UI and REST API")
    p.add_argument("--state-dir", default=os.environ.get("PNSBOX_WEB_STATE_DIR", DEFAULT_STATE),
                   help=f"accounts, drafts, the session key and the certificate (default {DEFAULT_STATE})")
    p.add_argument("--socket", default=os.environ.get("PNSBOX_SOCKET", DEFAULT_SOCKET), help="pnsboxd's control socket")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--listen", type=_address, action="append",
                      help="HTTPS on HOST:PORT (repeatable; default 0.0.0.0:443)")
    mode.add_argument("--http", type=_address, metavar="HOST:PORT",
                      help="plain HTTP instead, on a loopback address only")
    p.add_argument("--cert", help="the admin's certificate (PEM); default: STATE/tls/cert.pem, made if missing")
    p.add_argument("--key", help="its private key (PEM); default: STATE/tls/key.pem")
    p.add_argument("--edges", action="store_true",
                   help="serve only the edge API (/edges/v1: enroll, config, rotate), no admin page or login; "
                        f"default listen {EDGES_LISTEN}: the address in site.edges_url")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--idle-timeout", type=int, default=15 * 60, help="seconds before an idle session ends")
    p.add_argument("--init", action="store_true",
                   help="only prepare the state (certificate, first admin, printing its password) and exit")
    return p


def prepare(settings: Settings, cert: Path | None, key: Path | None, https: bool,
            accounts: bool = True) -> tuple[Path, Path]:
    """First start: the state directory, a certificate if none, and the first admin (printed once;
    not for the edge listener, which has no accounts)."""
    from .accounts import AccountStore
    from .tls import ensure_certificate

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.state_dir, 0o700)
    cert = cert or settings.state_dir / "tls" / "cert.pem"
    key = key or settings.state_dir / "tls" / "key.pem"
    if https and ensure_certificate(cert, key):
        print(f"pnsbox-web: made a self-signed certificate {cert}", flush=True)
    password = AccountStore(settings.users_file).ensure_first_admin() if accounts else None
    if password:
        print(f"pnsbox-web: first admin created: user admin, password {password}\n"
              "pnsbox-web: (shown once; only its hash is kept. Change it under your account.)", flush=True)
    return cert, key


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.http and not _is_loopback(args.http[0]):
        print(f"pnsbox-web: plain HTTP only on loopback, not {args.http[0]}; use --listen for HTTPS", file=sys.stderr)
        return 2
    https = not args.http
    settings = Settings(state_dir=Path(args.state_dir), socket=args.socket, secure_cookies=https,
                        idle_timeout=args.idle_timeout)
    cert, key = prepare(settings, Path(args.cert) if args.cert else None, Path(args.key) if args.key else None, https,
                        accounts=not args.edges)
    if args.init:
        return 0
    default = EDGES_LISTEN if args.edges else ("0.0.0.0", 443)
    binds = [f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in (args.listen or [default])] if https \
        else [f"{args.http[0]}:{args.http[1]}"]
    options = {"bind": binds, "workers": 1, "worker_class": "gthread", "threads": args.threads,
               "timeout": 180,  # an apply with checks may take a while
               "graceful_timeout": 10, "forwarded_allow_ips": "", "accesslog": "-", "errorlog": "-",
               "proc_name": "pnsbox-web-edges" if args.edges else "pnsbox-web",
               "control_socket_disable": True}  # gunicorn's own control socket: not needed, and $HOME is read-only
    if https:
        options.update(certfile=str(cert), keyfile=str(key))
    if args.edges:
        from .edge_app import create_edge_app

        _Gunicorn(create_edge_app(settings), options).run()
        return 0
    from .app import create_app

    _Gunicorn(create_app(settings), options).run()
    return 0


class _Gunicorn(BaseApplication):
    def __init__(self, application, options: dict):
        self.application, self.options = application, options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings an older gunicorn lacks are skipped
                self.cfg.set(key, value)

    def load(self):
        return self.application


if __name__ == "__main__":
    sys.exit(main())

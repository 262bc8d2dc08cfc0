"""The control API: JSON over HTTP on a Unix socket (root and the `pnsbox` group only)."""

from __future__ import annotations

import contextlib
import grp
import http.client
import json
import os
import socket
import socketserver
from http.server import BaseHTTPRequestHandler

from ..apply.netns import KernelError
from ..plan import PlanError
from ..problems import ConfigError
from .core import Daemon

DEFAULT_SOCKET = "/run/pnsbox/control.sock"


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, daemon: Daemon):
        if os.path.exists(path):
            os.unlink(path)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        super().__init__(path, _Handler)
        self.pnsbox = daemon
        with contextlib.suppress(KeyError, PermissionError):  # no pnsbox group here: root only
            os.chown(path, 0, grp.getgrnam("pnsbox").gr_gid)
        os.chmod(path, 0o660)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # the audit trail records what matters
        pass

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self):
        if self.path == "/status":
            return self._reply(200, self.server.pnsbox.status())
        return self._reply(404, {"error": f"no such endpoint {self.path}"})

    def do_POST(self):
        daemon: Daemon = self.server.pnsbox
        try:
            body = self._body()
            who, origin = body.get("author", "unknown"), body.get("from", "local")
            if self.path == "/apply":
                return self._reply(200, daemon.apply_site(body["config"], who, origin, body.get("message", "apply"),
                                                          body.get("confirm")))
            if self.path == "/confirm":
                return self._reply(200, daemon.confirm(who, origin))
            return self._reply(404, {"error": f"no such endpoint {self.path}"})
        except ConfigError as exc:
            return self._reply(422, {"error": "config", "problems": [str(p) for p in exc.problems]})
        except (KernelError, PlanError, LookupError, KeyError, ValueError) as exc:
            return self._reply(409, {"error": str(exc)})


def serve(path: str, daemon: Daemon) -> _Server:
    return _Server(path, daemon)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 120):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def call(path: str, method: str, endpoint: str, body: dict | None = None) -> tuple[int, dict]:
    """What the CLI (and later the web UI) uses to talk to pnsboxd."""
    connection = _UnixConnection(path)
    try:
        connection.request(method, endpoint, json.dumps(body or {}), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()

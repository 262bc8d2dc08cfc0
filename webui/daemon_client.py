"""The web UI's only way to the box: pnsboxd's control API (JSON over HTTP on a Unix socket).
A small client of its own, so the web process never imports the kernel-touching daemon code."""

from __future__ import annotations

import errno
import http.client
import json
import socket
import time


class DaemonError(Exception):
    """pnsboxd said no (status and body as it answered), or could not be reached (status 503)."""

    def __init__(self, status: int, body: dict):
        super().__init__(body.get("error") or f"pnsboxd answered {status}")
        self.status = status
        self.body = body

    @property
    def problems(self) -> list[str]:
        return self.body.get("problems", [])


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        # A full listen backlog answers EAGAIN at once (the daemon queues only a few connections):
        # wait a little and try again rather than call the daemon unreachable.
        for attempt in range(50):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(self.timeout)
            try:
                self.sock.connect(self.socket_path)
                return
            except BlockingIOError:
                self.sock.close()
                time.sleep(0.02 * (attempt + 1) if attempt < 10 else 0.2)
        raise BlockingIOError(errno.EAGAIN, "pnsboxd's control socket stays busy")


class DaemonClient:
    def __init__(self, socket_path: str, timeout: float = 120):
        self.socket_path = socket_path
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        connection = _UnixHTTPConnection(self.socket_path, self.timeout)
        try:
            connection.request(method, path, json.dumps(body or {}), {"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def call(self, method: str, path: str, body: dict | None = None):
        """The answer's body; DaemonError for anything but 200."""
        try:
            status, reply = self.request(method, path, body)
        except OSError as exc:
            raise DaemonError(503, {"error": f"pnsboxd is not reachable at {self.socket_path}: {exc}"}) from exc
        if status != 200:
            raise DaemonError(status, reply if isinstance(reply, dict) else {"error": str(reply)})
        return reply

    def get(self, path: str):
        return self.call("GET", path)

    def post(self, path: str, body: dict, author: str, origin: str, port: str):
        """A change, signed with who asked, from where, and over which port (audit and anti-lockout)."""
        return self.call("POST", path, {**body, "author": author, "from": origin, "port": port})

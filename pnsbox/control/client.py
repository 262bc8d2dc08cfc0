"""The one client of pnsboxd's control socket, for the CLI and the web UI alike.

JSON over HTTP on a Unix socket. A busy socket (a full listen backlog answers EAGAIN) is retried
for a while rather than called unreachable. Answers come back as the dataclasses of
control.messages; refusals as the errors of pnsbox.errors, whatever the route.
Imports nothing that touches the kernel: the unprivileged web process uses it.
"""

from __future__ import annotations

import errno
import json
import socket
import time

from ..errors import Unreachable, from_reply
from . import messages as m

DEFAULT_SOCKET = "/run/pnsbox/control.sock"


def _connect(path: str, timeout: float) -> socket.socket:
    # The daemon queues only so many connections; a full queue answers EAGAIN at once.
    for attempt in range(50):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            return sock
        except BlockingIOError:
            sock.close()
            time.sleep(0.02 * (attempt + 1) if attempt < 10 else 0.2)
        except BaseException:
            sock.close()
            raise
    raise BlockingIOError(errno.EAGAIN, "pnsboxd's control socket stays busy")


def _exchange(sock: socket.socket, method: str, path: str, payload: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request and its answer (pnsboxd sends a Content-Length and closes). Written
    out here rather than with http.client, whose import (email, ssl) costs the CLI's unchanged
    apply through pnsboxd a quarter of its time."""
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)
    received = bytearray()
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("pnsboxd closed the connection without an answer")
        received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ConnectionError(f"not an HTTP answer from pnsboxd: {status_line[:80]!r}")
    headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
    length = int(headers["content-length"]) if headers.get("content-length", "").isdigit() else None
    chunks = [body]
    got = len(body)
    while length is None or got < length:
        chunk = sock.recv(max(65536, (length or 0) - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    data = b"".join(chunks)
    if length is not None and len(data) < length:
        raise ConnectionError(f"pnsboxd's answer was cut off ({len(data)} of {length} bytes)")
    return int(parts[1]), data[:length] if length is not None else data


class ControlClient:
    """pnsboxd's routes as methods. `request` is the one place bytes cross the socket (tests
    replace it with a fake daemon)."""

    def __init__(self, socket_path: str = DEFAULT_SOCKET, timeout: float = 120):
        self.socket_path = socket_path
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        sock = _connect(self.socket_path, self.timeout)
        try:
            status, data = _exchange(sock, method, path, json.dumps(body or {}).encode())
        finally:
            sock.close()
        return status, json.loads(data or b"{}")

    def call(self, method: str, path: str, body: dict | None = None):
        """The answer's JSON; the matching PnsboxError for anything but 200."""
        try:
            status, reply = self.request(method, path, body)
        except OSError as exc:
            raise Unreachable(f"pnsboxd is not reachable at {self.socket_path}: {exc}") from exc
        if status != 200:
            raise from_reply(status, reply)
        return reply

    def get(self, path: str):
        return self.call("GET", path)

    def _post(self, path: str, message, reply_type=None):
        reply = self.call("POST", path, m.to_json(message))
        return m.parse(reply_type, reply) if reply_type else reply

    # --- reading ---------------------------------------------------------------------

    def status(self) -> m.Status:
        return m.parse(m.Status, self.get("/status"))

    def history(self) -> list[m.VersionSummary]:
        return [m.parse(m.VersionSummary, v) for v in self.get("/history")]

    def version(self, version_id: int) -> m.Version:
        return m.parse(m.Version, self.get(f"/versions/{int(version_id)}"))

    def diff(self, a: int, b: int) -> str:
        return m.parse(m.DiffReply, self.get(f"/diff/{int(a)}/{int(b)}")).diff

    def audit(self) -> list[m.AuditEntry]:
        return [m.parse(m.AuditEntry, entry) for entry in self.get("/audit")]

    def counters(self) -> m.Counters:
        return m.parse(m.Counters, self.get("/counters"))

    def classes(self) -> dict[str, list[m.ClassStats]]:
        return {device: [m.parse(m.ClassStats, row) for row in rows] for device, rows in self.get("/classes").items()}

    def usage(self, month: str | None = None) -> m.Usage:
        return m.parse(m.Usage, self.get("/usage" + (f"?month={month}" if month else "")))

    def edges(self) -> m.EdgeListing:
        return m.parse(m.EdgeListing, self.get("/edges"))

    def report(self, month: str) -> m.MonthReport:
        return m.parse(m.MonthReport, self.get(f"/reports/{month}"))

    def report_hourly(self, month: str, key: str) -> m.MonthHourly:
        return m.parse(m.MonthHourly, self.get(f"/reports/{month}/hourly/{key}"))

    def audit_verify(self) -> m.AuditVerifyReply:
        return m.parse(m.AuditVerifyReply, self.get("/audit/verify"))

    def plan(self, request: m.PlanRequest) -> m.PlanReply:
        return self._post("/plan", request, m.PlanReply)

    def explain(self, request: m.ExplainRequest) -> m.ExplainReply:
        return self._post("/explain", request, m.ExplainReply)

    # --- changing --------------------------------------------------------------------

    def apply(self, request: m.ApplyRequest) -> m.ApplyReply:
        return self._post("/apply", request, m.ApplyReply)

    def confirm(self, request: m.ConfirmRequest) -> m.ConfirmReply:
        return self._post("/confirm", request, m.ConfirmReply)

    def rollback(self, request: m.RollbackRequest) -> m.ApplyReply:
        return self._post("/rollback", request, m.ApplyReply)

    def acknowledge(self, request: m.Signed) -> dict:
        """End the alert of the last automatic rollback."""
        return self._post("/rollback/acknowledge", request)

    def ha(self) -> dict:
        """The HA pair as this hub's pnsboxd sees it ({"enabled": false} outside a pair)."""
        return self.get("/ha")

    def ha_resolve(self, request: m.ResolveRequest) -> dict:
        return self._post("/ha/resolve", request)

    def audit_event(self, request: m.AuditEventRequest) -> dict:
        return self._post("/audit/event", request)

    # --- edges ---------------------------------------------------------------------------

    def edge_token(self, request: m.EdgeTokenRequest) -> m.EdgeToken:
        return self._post("/edges/tokens", request, m.EdgeToken)

    def edge_disable(self, request: m.EdgeRequest) -> m.EdgeDisabled:
        return self._post("/edges/disable", request, m.EdgeDisabled)

    def edge_enable(self, request: m.EdgeRequest) -> m.EdgeDisabled:
        return self._post("/edges/enable", request, m.EdgeDisabled)

    def edge_enroll(self, request: m.EnrollRequest) -> m.Enrolled:
        return self._post("/edges/enroll", request, m.Enrolled)

    def edge_config(self, request: m.EdgeConfigRequest) -> m.EdgeConfig:
        return self._post("/edges/config", request, m.EdgeConfig)

    def edge_rotate(self, request: m.RotateRequest) -> m.Rotated:
        return self._post("/edges/rotate", request, m.Rotated)


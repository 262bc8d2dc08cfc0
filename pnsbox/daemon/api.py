"""The control API: JSON over HTTP on a Unix socket (root and the `pnsbox` group only).

The CLI and the web UI use nothing else to change the box. Routes:
  GET  /status                    what runs, what waits for a confirm, drift repairs
  GET  /history                   the versions, newest last (without their files)
  GET  /versions/N                one version with its files
  GET  /diff/A/B                  a unified diff of two versions
  GET  /audit, /audit/verify      the audit trail, and whether its hash chain holds
  GET  /counters                  per-OPD and per-policy counters from the kernel
  GET  /classes                   HTB class stats per IFB device (rate, ceil, now, drops, borrowed)
  GET  /usage?month=YYYY-MM       per-OPD bytes and packets of a month (default: this one), for reports
  GET  /reports/YYYY-MM           the month's evaluation from the rate series (pnsbox.report.compute)
  GET  /reports/YYYY-MM/hourly/OPD one OPD's (`*`: the province's) month hour by hour, for the charts
  POST /audit/event               {action, detail}: logins and account changes seen by the web UI
  POST /plan                      what applying {files[, where]} would change
  POST /apply                     {files, where, message, confirm, force}
  POST /confirm                   keep the pending change
  POST /rollback                  {version, confirm, force}
  POST /rollback/acknowledge      end the alert of the last automatic rollback (status: rollback_alert)
  POST /explain                   {source, target, port[, files]}: which policy decides
  GET  /ha                        the HA pair: roles, versions, the peer's reachability, a split brain
  POST /ha/resolve                {keep}: end a split brain, keeping that hub's versions (admins)
Every POST may carry author, from (`ssh:ADDR`, `web:ADDR`) and port, for the audit
trail and the anti-lockout check, and role (the web UI's user's): a change waiting for its
confirm is confirmed, rolled back or built on only by its author or an admin.
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import json
import os
import pwd
import re
import socket
import socketserver
import struct
import traceback
import urllib.parse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

from ..apply.pipeline import plan
from ..control import messages as m
from ..errors import BadRequest, Forbidden, InternalError, NotFound, as_pnsbox_error
from ..explain import explain
from ..observe import counters
from ..report import compute
from ..store import diff
from ..wording import audit_said_ok, say, structured
from .core import Daemon, Request, config_of

AUDITED_EVENTS = {"login", "login-failed", "login-locked", "logout", "user-add", "user-passwd", "user-role", "user-del", "token-add",
                  "token-del"}
ROUTES = []  # (method, compiled path, handler name)


def route(method: str, pattern: str):
    def register(func):
        ROUTES.append((method, re.compile(f"^{pattern}$"), func))
        return func
    return register


def _route_of(method: str, path: str):
    for wanted, pattern, handler in ROUTES:
        match = pattern.match(path)
        if wanted == method and match:
            return handler, match.groups()
    return None


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 64  # the web UI polls while admins apply: more than the default 5 wait

    def __init__(self, path: str, daemon: Daemon):
        if os.path.exists(path):
            os.unlink(path)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        super().__init__(path, _Handler)
        self.pnsbox = daemon
        with contextlib.suppress(KeyError, PermissionError):  # no pnsbox group here: root only
            os.chown(path, 0, grp.getgrnam("pnsbox").gr_gid)
        os.chmod(path, 0o660)


def _peer_user(sock: socket.socket) -> str:
    """The Unix user at the other end of the socket (the kernel vouches for it)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    uid = struct.unpack("3i", creds)[1]
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _version_summary(version, rolled_back: str | None = None, said: dict | None = None) -> m.VersionSummary:
    return m.VersionSummary(version.id, version.parent, version.author, version.time, version.message,
                            version.digest, rolled_back, said, version.said)


MAX_BODY = 16 << 20  # a 1,000-OPD site is about 1 MB of YAML


class _Handler(BaseHTTPRequestHandler):
    timeout = 60  # a client that stops sending does not hold a thread for ever

    def log_message(self, *args):  # the audit trail records what matters
        pass

    def _reply(self, code: int, body: dict | list) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY:
            raise BadRequest(f"a request body is at most {MAX_BODY} bytes")
        body = json.loads(self.rfile.read(length) or b"{}")
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        return body

    def _request(self, signed: m.Signed) -> Request:
        """Who asks: the author a client names (the web UI's signed-in user) is recorded with the
        Unix user the kernel vouches for, so nobody speaks for someone else unseen."""
        peer = _peer_user(self.connection)
        return Request(signed.author or peer, signed.from_ or "local", signed.port, peer, signed.role)

    def _dispatch(self, method: str) -> None:
        daemon: Daemon = self.server.pnsbox
        found = _route_of(method, self.path.split("?")[0])
        if found is None:
            error = NotFound(f"no such endpoint: {method} {self.path}")
            return self._reply(error.http_status, error.reply())
        handler, arguments = found
        try:
            body = self._body()  # read even for GET, so the client never writes into a closed socket
            body = body if method == "POST" else {}
            reply = handler(self, daemon, body, *arguments)
            self._reply(200, m.to_json(reply) if dataclasses.is_dataclass(reply) else reply)
            if (method, self.path) in (("POST", "/apply"), ("POST", "/rollback")):
                daemon.heap.settle()  # the answer is sent: nobody waits for this
            return None
        except Exception as exc:  # noqa: BLE001  every error becomes an answer (errors.py says which)
            error = as_pnsbox_error(exc)
            if error is None:  # a bug: the client still gets an answer, the log the traceback
                traceback.print_exc()
                error = InternalError(f"internal error: {exc!r}")
            return self._reply(error.http_status, error.reply())

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    # --- reading ---------------------------------------------------------------------

    @route("GET", "/status")
    def status(self, daemon, body):
        status = daemon.status()
        return m.Status(**{**status, "pending": m.pending_of(status["pending"]),
                           "classifier": m.parse(m.ClassifierStatus, status["classifier"])})

    @route("GET", "/history")
    def history(self, daemon, body):
        rolled_back, said = daemon.rollbacks.reasons(), daemon.rollbacks.said()
        return [m.to_json(_version_summary(v, rolled_back.get(v.id), said.get(v.id))) for v in daemon.history.versions()]

    @route("GET", r"/versions/(\d+)")
    def version(self, daemon, body, version_id):
        version = daemon.history.get(int(version_id))
        return m.Version(**dataclasses.asdict(_version_summary(version)), files=version.files)

    @route("GET", r"/diff/(\d+)/(\d+)")
    def diff(self, daemon, body, a, b):
        return m.DiffReply(diff(daemon.history.get(int(a)), daemon.history.get(int(b))))

    @route("GET", "/audit")
    def audit(self, daemon, body):
        return [m.to_json(m.parse(m.AuditEntry, entry)) for entry in daemon.audit.entries()]

    @route("GET", "/audit/verify")
    def audit_verify(self, daemon, body):
        problems = daemon.audit.verify()
        return m.AuditVerifyReply(not problems, problems, len(daemon.audit.entries()))

    @route("GET", "/counters")
    def counters(self, daemon, body):
        found = counters.read(daemon.netns)
        if found is None:
            return m.Counters(loaded=False)
        return m.Counters(True, found.digest,
                          {name: m.OpdCounters(c["name"], m.Traffic(c["tx"].bytes, c["tx"].packets),
                                               m.Traffic(c["rx"].bytes, c["rx"].packets))
                           for name, c in found.opds.items()},
                          {name: m.Traffic(c.bytes, c.packets) for name, c in found.rules.items()})

    @route("GET", "/classes")
    def classes(self, daemon, body):
        from ..apply.owned import OwnedRecord
        from ..observe import tc

        labels = OwnedRecord(daemon.state_dir, daemon.netns).read().labels
        trees, _ = tc.observe(daemon.netns)
        return {device: [m.to_json(m.ClassStats(f"1:{minor:x}", labels.get(f"1:{minor:x}", ""), c.rate, c.ceil,
                                                c.rate_now, c.bytes, c.drops, c.borrowed))
                         for minor, c in sorted(tree.classes.items())]
                for device, tree in trees.items()}

    @route("GET", "/usage")
    def usage(self, daemon, body):
        month = (urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("month") or [None])[0]
        if month is not None and not re.fullmatch(r"\d{4}-\d{2}", month):
            raise BadRequest("`month` is YYYY-MM")
        return m.parse(m.Usage, daemon.usage_report(month))

    @route("GET", r"/reports/(\d{4}-\d{2})")
    def report(self, daemon, body, month):
        with daemon.series_reader() as store:
            return m.parse(m.MonthReport, compute.month_report(store, month))

    @route("GET", r"/reports/(\d{4}-\d{2})/hourly/([A-Za-z0-9_*-]+)")
    def report_hourly(self, daemon, body, month, key):
        with daemon.series_reader() as store:
            return m.parse(m.MonthHourly, compute.hourly(store, month, key))

    @route("POST", "/audit/event")
    def audit_event(self, daemon, body):
        """Events the web UI witnesses (logins, accounts) go into the same hash chain."""
        event = m.parse(m.AuditEventRequest, body)
        if event.action not in AUDITED_EVENTS:
            raise BadRequest(f"action must be one of {', '.join(sorted(AUDITED_EVENTS))}")
        request = self._request(event)
        said = event.said if audit_said_ok(event.action, event.said) else None
        return daemon.audit.append(event.action, request.author, request.where, event.detail[:500], said)

    @route("POST", "/plan")
    def plan(self, daemon, body):
        asked = m.parse(m.PlanRequest, body)
        with daemon.lock:
            result = plan(config_of(asked.files, asked.where), daemon.netns, str(daemon.state_dir))
        return m.PlanReply([m.PlanStep(s.kind, s.text, s.origin or "", structured(s.text)) for s in result.steps],
                           list(result.warnings))

    @route("POST", "/explain")
    def explain(self, daemon, body):
        asked = m.parse(m.ExplainRequest, body)
        config = config_of(asked.files) if asked.files is not None else daemon.config
        if config is None:
            raise NotFound(say("explain.no_config"))
        answer = explain(config, asked.source, asked.target, asked.port, datetime.now(UTC))
        return m.ExplainReply(answer.action, answer.policy, answer.shaping, answer.text(), answer.said())

    # --- changing --------------------------------------------------------------------

    @route("POST", "/apply")
    def apply(self, daemon, body):
        asked = m.parse(m.ApplyRequest, body)
        return m.applied(daemon.apply_files(asked.files, self._request(asked), asked.message[:500], asked.confirm,
                                           asked.force, where=asked.where))

    @route("POST", "/confirm")
    def confirm(self, daemon, body):
        return m.ConfirmReply(**daemon.confirm(self._request(m.parse(m.ConfirmRequest, body))))

    @route("POST", "/rollback/acknowledge")
    def acknowledge(self, daemon, body):
        return daemon.acknowledge(self._request(m.parse(m.Signed, body)))

    @route("GET", "/ha")
    def ha(self, daemon, body):
        return daemon.ha.status() if daemon.ha is not None else {"enabled": False}

    @route("POST", "/ha/resolve")
    def ha_resolve(self, daemon, body):
        asked = m.parse(m.ResolveRequest, body)
        request = self._request(asked)
        if not request.is_admin:
            raise Forbidden(say("ha.resolve.admins_only"))
        if daemon.ha is None:
            raise NotFound(say("ha.resolve.no_pair"))
        return daemon.ha.resolve(asked.keep, request.author, request.where)

    @route("POST", "/rollback")
    def rollback(self, daemon, body):
        asked = m.parse(m.RollbackRequest, body)
        return m.applied(daemon.rollback(asked.version, self._request(asked), asked.confirm, asked.force))


def serve(path: str, daemon: Daemon) -> _Server:
    return _Server(path, daemon)


from . import edge_routes  # noqa: E402,F401  (registers the /edges routes)

"""Fakes for the web UI tests: a pnsboxd that keeps versions in memory, and a browser-like test client."""

from __future__ import annotations

import re
import time
from pathlib import Path

from pnsbox.control.client import ControlClient
from pnsbox.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "rules" / "examples" / "province"
PASSWORDS = {"admin": "admin-password-1", "opdinkes": "operator-pass-1", "aud": "auditor-pass-1"}


def example_files() -> dict[str, str]:
    return {str(p.relative_to(EXAMPLE)): p.read_text() for p in sorted(EXAMPLE.rglob("*.yaml"))}


def report_series():
    """Three hours of November 2026 for dinkes (20 Mbit/s down) and bappeda (5), in a series store."""
    import tempfile
    from datetime import UTC, datetime

    from pnsbox.series import Plan, Reading, SeriesStore

    store = SeriesStore(tempfile.mkdtemp(prefix="pnsbox-web-series-"), 7)
    t, down = datetime(2026, 11, 2, 2, tzinfo=UTC).timestamp(), {"dinkes": 0, "bappeda": 0}
    plans = {"dinkes": Plan(50_000_000, 200_000_000, 50_000_000, 200_000_000)}
    store.record(t, {k: Reading(v, 0) for k, v in down.items()}, plans, site="demo-province")
    for _ in range(18):
        t += 600
        down["dinkes"] += 20_000_000 * 600 // 8
        down["bappeda"] += 5_000_000 * 600 // 8
        store.record(t, {k: Reading(v, v // 10) for k, v in down.items()}, plans,  # (categories: the kernel's sets)
                     opd_categories={"dinkes": {"video": down["dinkes"] // 2, "web": down["dinkes"] // 4},
                                     "bappeda": {"e-government": down["bappeda"] // 2}})
    return store


class FakeDaemon(ControlClient):
    """Answers like pnsboxd's control API; records every POST."""

    def __init__(self):
        super().__init__("/nonexistent")
        self.versions = {1: {"id": 1, "parent": None, "author": "root", "time": time.time(), "message": "base",
                             "digest": "x", "files": example_files()}}
        self.confirmed, self.pending, self.posts, self.problems = 1, None, [], []
        self.pair = None  # GET /ha's answer; None: a daemon outside an HA pair (404, as older ones)
        self.plan_warnings: list[str] = []  # what /plan says this kernel cannot give the config
        self.check_failures: list = []  # the last apply's failed checks (said, as pnsbox.checks says them)
        self.rollbacks = None  # a test's own pnsbox.daemon.rollbacks.RollbackRecord: why versions were rolled back
        self.audit_entries: list[dict] = []  # more of GET /audit's entries (a test's own, from a real AuditLog)

    def _report(self, path: str):
        """A month's evaluation made by the real computation from a small series (2026-11 only)."""
        from pnsbox.report import compute

        parts = path.split("/")
        if parts[2] != "2026-11":
            return 404, {"error": "no rate series for that month"}
        store = report_series()
        found = compute.month_report(store, "2026-11") if len(parts) == 3 else \
            compute.hourly(store, "2026-11", parts[4])
        return 200, found

    def running(self) -> int:
        return self.pending["version"] if self.pending else self.confirmed

    def request(self, method, path, body=None):
        body = body or {}
        if method == "POST":
            self.posts.append((path, body))
        if path == "/status":
            return 200, {"running": self.running(), "confirmed": self.confirmed, "pending": self.pending,
                         "confirm_seconds_left": 100 if self.pending else None, "drift_repairs": 0,
                         "last_drift": None, "last_check_failures": [str(f) for f in self.check_failures],
                         "last_check_failures_said": [f.as_json() for f in self.check_failures], "classifier": {"wanted": False, "down": False}}
        if path == "/ha" and self.pair is not None:
            return 200, self.pair
        if path.startswith("/versions/"):
            return 200, self.versions[int(path.split("/")[-1])]
        if path == "/history":
            why, said = (self.rollbacks.reasons(), self.rollbacks.said()) if self.rollbacks else ({}, {})
            return 200, [{**{k: v for k, v in ver.items() if k != "files"}, "rolled_back": why.get(number),
                          "rolled_back_said": said.get(number)} for number, ver in self.versions.items()]
        if path.startswith("/diff/"):
            return 200, {"diff": "--- a\n+++ b\n"}
        if path == "/audit":
            entries = [{"seq": 1, "time": time.time(), "action": "apply", "actor": "root", "from": "local",
                        "detail": "version 1", "hash": "h", "prev": "0"}]
            if self.pair is not None:  # an HA hub: each entry names the hub that wrote it
                entries.append({"seq": 2, "time": time.time(), "action": "replicated", "actor": "root",
                                "from": "peer:hub-b", "detail": "version 2 made on hub-b: x", "hash": "i",
                                "prev": "h", "hub": "hub-a"})
            return 200, entries + self.audit_entries
        if path.startswith("/reports/"):
            return self._report(path)
        if path.startswith("/usage"):
            month = path.partition("month=")[2] or "2026-11"
            row = {"tx_bytes": 1000, "tx_packets": 10, "rx_bytes": 5000, "rx_packets": 20}
            return 200, {"month": month, "months": ["2026-10", "2026-11"],
                         "opds": {"dinkes": row, "bappeda": row} if month == "2026-11" else {}}
        if path == "/audit/verify":
            return 200, {"intact": True, "problems": [], "entries": 1}
        if path == "/counters":
            return 200, {"loaded": True, "opds": {n: {"name": n, "tx": {"bytes": 1, "packets": 1},
                                                     "rx": {"bytes": 2, "packets": 1}}
                                                 for n in ("diskominfo", "dinkes", "bappeda")}, "rules": {}}
        if path == "/classes":
            row = {"rate": 10**6, "ceil": 2 * 10**6, "rate_now": 0, "drops": 0, "borrowed": 0}
            return 200, {"pnsbox-dl": [{**row, "class": "1:1", "label": "pipe", "bytes": 5},
                                       {**row, "class": "1:110", "label": "dinkes", "bytes": 3},
                                       {**row, "class": "1:120", "label": "bappeda", "bytes": 4}]}
        if path == "/plan":
            if self.problems:
                return 422, ConfigError(self.problems).reply()
            return 200, {"steps": [{"kind": "tc", "text": "~ class dinkes", "origin": ""}], "warnings": self.plan_warnings}
        if path == "/apply":
            if self.problems:
                return 422, ConfigError(self.problems).reply()
            new = max(self.versions) + 1
            self.versions[new] = {"id": new, "parent": self.running(), "author": body["author"], "time": time.time(),
                                  "message": body.get("message"), "digest": "y", "files": body["files"]}
            if body.get("confirm"):
                self.pending = {"version": new, "deadline": time.time() + body["confirm"],
                                "rollback_to": self.confirmed}
            else:
                self.confirmed = new
            return 200, {"version": new, "changes": ["~ class"], "pending": self.pending}
        if path == "/confirm":
            self.confirmed, self.pending = self.pending["version"], None
            return 200, {"confirmed": self.confirmed}
        if path == "/rollback":
            self.pending = None
            return self.request("POST", "/apply", {**body, "files": self.versions[body["version"]]["files"]})
        if path == "/explain":
            return 200, {"action": "accept", "policy": "simpeg-for-all", "shaping": "", "text": f"accept by policy x from {body.get('source')}"}
        if path == "/audit/event":
            return 200, {"seq": len(self.posts)}
        return 404, {"error": f"no such endpoint {path}"}



def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class Browser:
    """A test client that signs in and sends the page's CSRF token with its forms."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = None

    def login(self, name: str, password: str | None = None):
        self.token = csrf_of(self.client.get("/login").get_data(as_text=True))
        return self.client.post("/login", data={"username": name, "password": password or PASSWORDS[name],
                                                "csrf_token": self.token})

    def get(self, path: str):
        return self.client.get(path)

    def post(self, path: str, data: dict | None = None, csrf: bool = True):
        data = dict(data or {})
        if csrf:
            page = self.client.get("/account").get_data(as_text=True)
            data["csrf_token"] = csrf_of(page)
        return self.client.post(path, data=data)

"""The daemon's state files and its control API's refusals, without touching any kernel."""

import json
import threading

import pytest
from test_lockout import EXAMPLE

from pnsbox.control.client import ControlClient
from pnsbox.daemon.api import serve
from pnsbox.daemon.core import Daemon, Refused, Request
from pnsbox.store import site_files


@pytest.fixture
def daemon(tmp_path):
    return Daemon(str(tmp_path / "state"), netns="pnsbox-test-no-such-namespace")


def test_a_confirm_cut_off_between_its_two_writes_counts_as_confirmed(daemon):
    daemon.state_dir.mkdir(parents=True)
    (daemon.state_dir / "confirmed.json").write_text(json.dumps({"version": 5}))
    (daemon.state_dir / "pending.json").write_text(json.dumps({"version": 5, "deadline": 0, "rollback_to": 4}))
    assert daemon.pending() is None and daemon.running() == 5
    assert not (daemon.state_dir / "pending.json").exists()


def test_with_nothing_confirmed_a_confirm_deadline_is_refused(daemon):
    with pytest.raises(Refused, match="nothing is confirmed yet"):
        daemon.apply_files(site_files(EXAMPLE), Request("ani"), "first", confirm_seconds=60)
    assert not (daemon.state_dir / "applying.json").exists()


@pytest.mark.parametrize("body, error", [
    ({"files": {"./pnsbox.yaml": "x"}}, "not a site file name"),
    ({"files": "pnsbox.yaml"}, "`files` is an object"),
    ({"config": "/etc/shadow"}, "give `files`"),
    ({"files": {"pnsbox.yaml": "x"}, "confirm": "60"}, "`confirm` is a number"),
    ({"files": {"pnsbox.yaml": "x"}, "confirm": 0}, "`confirm` is a number"),
    ({"files": {"pnsbox.yaml": "x"}, "confirm": 1e308 * 10}, "`confirm` is a number"),
])
def test_the_api_refuses_bad_requests_before_anything_runs(daemon, tmp_path, body, error):
    server = serve(str(tmp_path / "s.sock"), daemon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, reply = ControlClient(str(tmp_path / "s.sock")).request("POST", "/apply", body)
        assert status == 400 and error in reply["error"], reply
        status, reply = ControlClient(str(tmp_path / "s.sock")).request("POST", "/rollback", {"version": "1"})
        assert status == 400 and "`version` is a whole number" in reply["error"]
    finally:
        server.shutdown()
        server.server_close()


def _pending_of(daemon, author):
    daemon.state_dir.mkdir(parents=True, exist_ok=True)
    (daemon.state_dir / "confirmed.json").write_text(json.dumps({"version": 1}))
    (daemon.state_dir / "pending.json").write_text(json.dumps({"version": 2, "deadline": 9e9, "rollback_to": 1,
                                                               "author": author}))


def test_an_operator_cannot_confirm_cancel_or_build_on_an_admins_pending_change(daemon):
    _pending_of(daemon, "ani")
    budi = Request("budi", "web:10.21.0.9", "tcp/443", "pnsbox-web", role="operator")
    with pytest.raises(Refused, match="version 2 of ani waits for its confirm: only ani or an admin may confirm it"):
        daemon.confirm(budi)
    with pytest.raises(Refused, match="may apply on top of it"):
        daemon.apply_files(site_files(EXAMPLE), budi, "more for dinkes", confirm_seconds=60)
    with pytest.raises(Refused, match="may roll back"):
        daemon.rollback(1, budi)
    assert daemon.pending().version == 2 and daemon.confirmed() == 1
    assert [e["action"] for e in daemon.audit.entries()] == []


def test_the_author_or_an_admin_confirms_a_pending_change(daemon):
    _pending_of(daemon, "budi")
    with pytest.raises(Refused, match="auditors change nothing"):
        daemon.confirm(Request("citra", role="auditor"))
    assert daemon.confirm(Request("budi", role="operator")) == {"confirmed": 2}
    _pending_of(daemon, "budi")
    assert daemon.confirm(Request("ani", role="admin")) == {"confirmed": 2}
    _pending_of(daemon, "budi")
    assert daemon.confirm(Request("root")) == {"confirmed": 2}  # a shell user of the box is its admin


def test_the_control_api_passes_the_web_users_role(daemon, tmp_path):
    _pending_of(daemon, "ani")
    server = serve(str(tmp_path / "s.sock"), daemon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, reply = ControlClient(str(tmp_path / "s.sock")).request("POST", "/confirm", {"author": "budi", "role": "operator"})
        assert status == 403 and "only ani or an admin" in reply["error"]
        status, reply = ControlClient(str(tmp_path / "s.sock")).request("POST", "/confirm", {"author": "budi", "role": "root"})
        assert status == 400 and "`role` is admin, operator or auditor" in reply["error"]
    finally:
        server.shutdown()
        server.server_close()
    assert daemon.pending().version == 2


def test_an_automatic_rollback_raises_an_alert_until_acknowledged_and_marks_the_version(daemon):
    daemon.state_dir.mkdir(parents=True, exist_ok=True)
    (daemon.state_dir / "pending.json").write_text(json.dumps({"version": 2, "deadline": 0, "rollback_to": None,
                                                               "author": "ani"}))
    assert "version 2 was not confirmed in time" in daemon.tick()
    alert = daemon.status()["rollback_alert"]
    assert alert["version"] == 2 and alert["reason"] == "version 2 was not confirmed in time"
    assert daemon.acknowledge(Request("budi", role="operator"))["acknowledged"]["version"] == 2
    assert daemon.status()["rollback_alert"] is None
    assert daemon.rollbacks.reasons() == {2: "version 2 was not confirmed in time"}
    assert daemon.audit.entries()[-1]["action"] == "acknowledge"
    with pytest.raises(LookupError):
        daemon.acknowledge(Request("budi"))

"""The daemon's state files and its control API's refusals, without touching any kernel."""

import json
import threading

import pytest
from test_lockout import EXAMPLE

from pnsbox.daemon.api import call, serve
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
    ({"files": "pnsbox.yaml"}, "must map file names"),
    ({"config": "/etc/shadow"}, "give `files`"),
    ({"files": {"pnsbox.yaml": "x"}, "confirm": "60"}, "`confirm` is a number"),
    ({"files": {"pnsbox.yaml": "x"}, "confirm": 0}, "`confirm` is a number"),
    ({"files": {"pnsbox.yaml": "x"}, "confirm": 1e308 * 10}, "`confirm` is a number"),
])
def test_the_api_refuses_bad_requests_before_anything_runs(daemon, tmp_path, body, error):
    server = serve(str(tmp_path / "s.sock"), daemon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, reply = call(str(tmp_path / "s.sock"), "POST", "/apply", body)
        assert status == 400 and error in reply["error"], reply
        status, reply = call(str(tmp_path / "s.sock"), "POST", "/rollback", {"version": "1"})
        assert status == 400 and "version id" in reply["error"]
    finally:
        server.shutdown()
        server.server_close()

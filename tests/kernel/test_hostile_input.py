"""Hostile site files sent to a real pnsboxd, over its control API and through the web UI:
refused in well under a second with FILE:LINE, and the daemon's memory stays where it was."""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from labkit import ROOT
from markupsafe import escape
from test_daemon import BIN, box  # noqa: F401  (the fixture: a hub namespace and pnsboxd on it)

from pnsbox.control.client import ControlClient
from pnsbox.errors import ConfigError
from pnsbox.store import site_files
from pnsbox.wording import render
from webui.app import create_app
from webui.settings import Settings

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)

PASSWORD = "hostile-test-pass-1"
DINKES = "opds/health-and-planning.yaml"


def bomb_lines(levels: int = 8) -> list[str]:
    lines = ["x0: &a0 [x, x, x, x, x, x, x, x, x]"]
    return lines + [f"x{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, levels + 1)]


def peak_kb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM)."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1))


def texts(reply: dict) -> list[str]:
    """A config error's problems as the CLI prints them."""
    return ConfigError.from_reply(reply).lines()[:-1]


def test_an_alias_bomb_over_the_control_api_is_refused_within_a_second_and_the_daemon_stays_small(box):  # noqa: F811
    daemon = box["start"]()
    call = ControlClient(box["socket"], timeout=5).request  # a daemon that chokes fails the test, not hangs it
    files = site_files(box["site"])
    before = peak_kb(daemon.pid)
    for endpoint in ("/plan", "/apply"):
        started = time.monotonic()
        status, reply = call("POST", endpoint, {
            "files": {**files, "pnsbox.yaml": "\n".join(bomb_lines()) + "\n"}, "where": "/etc/pnsbox"})
        assert time.monotonic() - started < 1
        assert status == 422, reply
        assert texts(reply) == ["/etc/pnsbox/pnsbox.yaml:1: (top): YAML anchors and aliases (&name, *name) "
                                     "are not used in a site file: write the value out"]
    status, reply = call("POST", "/plan", {"files": {"pnsbox.yaml": "site: \udcff\n"}})
    assert status == 422 and texts(reply)[0].startswith("pnsbox.yaml:1: (top): not UTF-8 text")
    assert peak_kb(daemon.pid) - before < 20_000
    assert call("GET", "/status")[0] == 200


def _signed_in(app, name: str):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token}).status_code == 302
    page = client.get("/account").get_data(as_text=True)
    return client, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_an_alias_bomb_through_the_web_ui_is_refused_within_a_second(box, tmp_path):  # noqa: F811
    daemon = box["start"]()
    applied = subprocess.run([str(BIN / "pnsbox"), "apply", "-c", str(box["site"]), "--socket", box["socket"]],
                             capture_output=True, text=True, cwd=ROOT)
    assert applied.returncode == 0, applied.stderr
    app = create_app(Settings(state_dir=tmp_path / "web", socket=box["socket"], secure_cookies=False),
                     ControlClient(box["socket"], timeout=5))
    accounts = app.extensions["pnsbox"].accounts
    accounts.add("admin", "admin", PASSWORD)
    accounts.add("opdinkes", "operator", PASSWORD, ["dinkes"])
    before = peak_kb(daemon.pid)

    # an operator's plan over the web API: the bomb sits inside their own OPD's bandwidth plan
    # (the scope check let 3- and 4-level chains through to pnsboxd); the web UI's bounded parse
    # refuses the file at once, as the CLI would, before any scope is compared
    operator, token = _signed_in(app, "opdinkes")
    files = site_files(box["site"])
    inline = "{" + ", ".join(bomb_lines()) + "}"
    files[DINKES] = re.sub(r"(?s)  bandwidth:\n    guaranteed: 50mbit.*?(?=\nbappeda:)", f"  bandwidth: {inline}",
                           files[DINKES])
    assert "*a7" in files[DINKES] and len(inline) < 500
    started = time.monotonic()
    answer = operator.post("/api/v1/plan", json={"files": files}, headers={"X-CSRFToken": token})
    assert time.monotonic() - started < 1
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert "YAML anchors and aliases (&name, *name) are not used in a site file" in answer.get_json()["problems"][0]

    # the admin's file editor reads the text as the CLI does (pnsbox.load): refused at once with
    # its file and line, the text given back as typed, nothing saved in a draft
    admin, token = _signed_in(app, "admin")
    started = time.monotonic()
    saved = admin.post("/changes/file", data={"name": "pnsbox.yaml", "text": "\n".join(bomb_lines()) + "\n",
                                              "csrf_token": token})
    assert time.monotonic() - started < 1
    assert saved.status_code == 422
    alias = escape(render({"code": "config.yaml.alias", "args": {}}, "id"))  # worded in the reader's language
    assert f"<td>pnsbox.yaml</td><td>1</td><td><code>(top)</code></td><td>{alias}</td>" in saved.get_data(as_text=True)
    assert app.extensions["pnsbox"].drafts.get("admin") is None
    assert peak_kb(daemon.pid) - before < 20_000

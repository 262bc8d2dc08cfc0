"""The web UI in a real browser: Debian's Chromium driven by Playwright, against pnsbox-web over
HTTPS on loopback, talking to a real pnsboxd that manages the hub of a lab of our own."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from browserkit import ARTIFACTS, BIN, ROOT

EXAMPLE = ROOT / "rules" / "examples" / "province"
CHROMIUM = os.environ.get("PNSBOX_CHROMIUM", "/usr/bin/chromium")
PASSWORDS = {"opdinkes": "operator-pass-1", "aud": "auditor-pass-1"}


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives Chromium against the web UI and a daemon in a lab")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(check, what: str, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not come up within {seconds} s")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium, or a skip that says why there is none."""
    if os.geteuid() != 0:
        pytest.skip("browser tests need root (the lab's network namespaces)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed")
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    except Exception as exc:  # noqa: BLE001  (any launch failure means: no browser here)
        manager.stop()
        pytest.skip(f"Chromium cannot run here: {exc}")
    yield browser
    browser.close()
    manager.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, chromium):
    """A lab running the example site under a real pnsboxd (version 1), and pnsbox-web over HTTPS."""
    from pnsbox.lab import topology
    from pnsbox.load import load_site
    from pnsbox.validate import build
    from webui.accounts import AccountStore

    lab = f"w{uuid.uuid4().hex[:6]}"
    tmp = tmp_path_factory.mktemp("webui")
    state, sock, web_state = tmp / "state", str(tmp / "control.sock"), tmp / "web"
    port = _free_port()
    processes = []
    try:
        topology.lab_up(build(load_site(EXAMPLE)), lab)
        hub = topology.netns_name(lab, "hub")
        processes.append(subprocess.Popen([str(BIN / "pnsboxd"), "--state-dir", str(state), "--socket", sock,
                                           "--netns", hub, "--metrics-listen", "off"], stdout=subprocess.DEVNULL))
        _wait_for(lambda: os.path.exists(sock), "pnsboxd's socket")
        subprocess.run([str(BIN / "pnsbox"), "apply", "-c", str(EXAMPLE), "--socket", sock, "-m", "base"],
                       check=True, capture_output=True)
        init = subprocess.run([str(BIN / "pnsbox-web"), "--state-dir", str(web_state), "--socket", sock, "--init"],
                              check=True, capture_output=True, text=True).stdout
        admin_password = re.search(r"user admin, password (\S+)", init).group(1)
        accounts = AccountStore(web_state / "users.json")
        accounts.add("opdinkes", "operator", PASSWORDS["opdinkes"], ["dinkes"])
        accounts.add("aud", "auditor", PASSWORDS["aud"])
        log = open(tmp / "web.log", "w")  # noqa: SIM115  (closed with the process)
        processes.append(subprocess.Popen([str(BIN / "pnsbox-web"), "--state-dir", str(web_state), "--socket", sock,
                                           "--listen", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT))
        _wait_for(lambda: _port_open(port), "pnsbox-web")
        ARTIFACTS.mkdir(exist_ok=True)
        yield {"url": f"https://127.0.0.1:{port}", "hub": hub, "lab": lab, "state": str(state), "socket": sock,
               "web_state": str(web_state),
               "passwords": {**PASSWORDS, "admin": admin_password}, "accounts": accounts, "log": tmp / "web.log"}
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        topology.lab_down(lab)


@pytest.fixture
def page(chromium, stack):
    context = chromium.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()

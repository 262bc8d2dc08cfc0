"""What is in force, said on every page (issue 11): a change waiting for its confirm, an automatic
rollback with its reason until someone acknowledges it, rolled-back versions marked in the
history, and a rollback that shows its diff and asks before it happens."""

import re
import time

import pytest
from browserkit import login, shot

from pnsbox.control.client import ControlClient

pytestmark = pytest.mark.browser
PAGES = ("/", "/opds/", "/policies/", "/bandwidth/", "/history/")


def call(socket: str, method: str, path: str, body: dict | None = None):
    return ControlClient(socket).request(method, path, body)


def _apply_as_admin(stack, guaranteed: str, confirm: float | None) -> int:
    status, running = call(stack["socket"], "GET", "/status")
    files = dict(call(stack["socket"], "GET", f"/versions/{running['running']}")[1]["files"])
    name = "opds/health-and-planning.yaml"
    files[name] = re.sub(r"(?m)^    guaranteed: \w+$", f"    guaranteed: {guaranteed}", files[name], count=1)
    status, reply = call(stack["socket"], "POST", "/apply", {"files": files, "confirm": confirm, "author": "admin",
                                                             "message": f"dinkes {guaranteed}"})
    assert status == 200 and not reply.get("unchanged"), reply
    return reply["version"]


def test_a_pending_change_shows_on_every_page(page, stack):
    version = _apply_as_admin(stack, "55mbit", 300)
    login(page, stack, "aud")  # even an auditor, who cannot settle it, is told
    for path in PAGES:
        page.goto(stack["url"] + path)
        assert f"Versi {version} menunggu konfirmasi" in page.inner_text("#pending-banner"), path
    shot(page, "20-pending-everywhere")
    assert call(stack["socket"], "POST", "/confirm", {"author": "admin"})[0] == 200


def test_an_automatic_rollback_is_shown_until_acknowledged_and_marked_in_history(page, stack):
    version = _apply_as_admin(stack, "65mbit", 2)
    for _ in range(100):
        if call(stack["socket"], "GET", "/status")[1]["rollback_alert"]:
            break
        time.sleep(0.1)
    login(page, stack, "admin")
    for path in PAGES:
        page.goto(stack["url"] + path)
        alert = page.inner_text("#rollback-alert")
        assert f"versi {version} tidak berjalan lagi" in alert, path
        assert f"versi {version} tidak dikonfirmasi tepat waktu" in alert, alert  # pnsboxd's reason, in Indonesian
    shot(page, "21-rollback-alert")
    page.goto(stack["url"] + "/history/")
    assert "dikembalikan" in page.inner_text(f"#version-{version}")
    page.click("#acknowledge-button")
    page.wait_for_selector("text=Dicatat sebagai sudah dilihat")
    for path in PAGES:
        page.goto(stack["url"] + path)
        assert page.locator("#rollback-alert").count() == 0, path
    assert "dikembalikan" in page.inner_text(f"#version-{version}")  # the history keeps the mark
    trail = call(stack["socket"], "GET", "/audit")[1]
    assert trail[-1]["action"] == "acknowledge" and trail[-1]["actor"] == "admin"


def test_a_rollback_shows_its_diff_and_asks_first(page, stack):
    running = call(stack["socket"], "GET", "/status")[1]["running"]
    login(page, stack, "admin")
    page.goto(stack["url"] + "/history/")
    page.click("#version-1 .rollback-link")
    page.wait_for_selector("#rollback-diff")
    shot(page, "22-rollback-preview")
    assert call(stack["socket"], "GET", "/status")[1]["running"] == running  # nothing happened yet
    page.select_option("#rollback-form select[name=confirm]", "0")
    page.click("#rollback-confirm-button")
    page.wait_for_selector("text=Dikembalikan ke versi 1")
    after = call(stack["socket"], "GET", "/status")[1]
    assert after["running"] > running and after["pending"] is None
    history = {v["id"]: v for v in call(stack["socket"], "GET", "/history")[1]}
    assert "admin rolled back" in history[running]["rolled_back"]
    page.goto(stack["url"] + "/history/")  # why, and pnsboxd's own message, in the reader's language
    assert "dikembalikan oleh admin (kembali ke versi 1)" in page.inner_text(f"#version-{running}")
    assert "kembali ke versi 1" in page.inner_text(f"#version-{after['running']}")
    assert "rolled back" not in page.inner_text("main") and "rollback to version" not in page.inner_text("main")


def test_the_plans_a_schedule_put_in_force_show_on_the_bandwidth_and_opd_pages(page, stack):
    running = call(stack["socket"], "GET", "/status")[1]["running"]
    files = dict(call(stack["socket"], "GET", f"/versions/{running}")[1]["files"])
    files["pnsbox.yaml"] = files["pnsbox.yaml"].replace(
        "schedules:\n", 'schedules:\n  always: {from: "00:00", to: "24:00"}\n', 1)
    name = "opds/health-and-planning.yaml"
    files[name] = files[name].replace("      office-hours: {guaranteed: 60mbit",
                                      "      always: {guaranteed: 70mbit, ceiling: 300mbit}\n"
                                      "      office-hours: {guaranteed: 60mbit", 1)
    status, reply = call(stack["socket"], "POST", "/apply", {"files": files, "author": "admin",
                                                             "message": "bappeda: a plan that is always open"})
    assert status == 200, reply
    login(page, stack, "admin")
    page.goto(stack["url"] + "/bandwidth/")
    row = page.inner_text("#bw-download-bappeda")
    assert "70mbit" in row and "300mbit" in row and "always" in row, row
    assert "70mbit" not in page.inner_text("#bw-download-dinkes")
    page.goto(stack["url"] + "/opds/bappeda")
    now = page.inner_text("#plan-now")
    assert "Berlaku sekarang (jadwal always)" in now and "70mbit / 300mbit" in now, now
    shot(page, "23-plan-in-force")

"""Proofs in a real browser (issue 6): a plan change applied with confirm shows in `pnsbox show`
and rolls back; auditors and operators are held by the server; CSRF and login throttling hold."""

import re

import pytest
from browserkit import login, shot, show

from pnsbox.control.client import ControlClient

pytestmark = pytest.mark.browser


def form_post(page, stack, path: str, data: dict, with_csrf: bool = True):
    """A direct POST with this browser's session, as a hand-made request would send it."""
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    form = {**data, **({"csrf_token": token} if with_csrf else {})}
    return page.request.post(stack["url"] + path, form=form, headers={"Referer": stack["url"] + "/"},
                             max_redirects=0)


def daemon(stack) -> ControlClient:
    return ControlClient(stack["socket"])


def dinkes_class(stack) -> str:
    return next(line for line in show(stack).splitlines() if line.startswith("1:110 "))


def test_admin_changes_a_plan_applies_with_confirm_and_rolls_back(page, stack):
    page.goto(stack["url"] + "/")
    shot(page, "01-login")
    login(page, stack, "admin")
    page.wait_for_timeout(4500)  # two polls: the graphs have a line
    shot(page, "02-dashboard")
    assert re.search(r"\b50mbit\s+200mbit\b", dinkes_class(stack))

    page.goto(stack["url"] + "/opds/")
    shot(page, "03-opds")
    page.click("#opd-dinkes >> text=Ubah")
    page.fill("input[name=guaranteed]", "70mbit")
    page.fill("input[name=ceiling]", "250mbit")
    shot(page, "04-opd-edit")
    page.click("#opd-form button[type=submit]")
    page.wait_for_selector("#draft-diff")
    assert "+    guaranteed: 70mbit" in page.inner_text("#draft-diff")
    shot(page, "05-review")
    page.select_option("select[name=confirm]", "120")
    page.click("#apply-button")
    page.wait_for_selector("#pending .countdown")
    shot(page, "06-pending-confirm")
    assert re.search(r"\b70mbit\s+250mbit\b", dinkes_class(stack)), "the new plan runs in the kernel"

    page.click("#rollback-button")
    page.wait_for_selector("text=Dikembalikan ke versi 1")
    assert re.search(r"\b50mbit\s+200mbit\b", dinkes_class(stack)), "the rollback put the old plan back"

    # Once more, confirmed this time; then back to version 1 from the history.
    page.goto(stack["url"] + "/opds/dinkes/edit")
    page.fill("input[name=guaranteed]", "80mbit")
    page.click("#opd-form button[type=submit]")
    page.click("#apply-button")
    page.click("#confirm-button")
    page.wait_for_selector("text=dikonfirmasi")
    assert re.search(r"\b80mbit\s+200mbit\b", dinkes_class(stack))
    page.goto(stack["url"] + "/history/")
    shot(page, "07-history")
    page.click("#version-1 >> text=Kembalikan ke versi ini")
    page.wait_for_selector("#rollback-diff")  # the diff first, then it asks
    page.click("#rollback-confirm-button")
    page.click("#confirm-button")
    assert re.search(r"\b50mbit\s+200mbit\b", dinkes_class(stack))

    for path, name in (("/policies/?from=dinkes&to=simpeg&port=tcp/443", "08-policies-explain"),
                       ("/bandwidth/", "09-bandwidth"), ("/audit/", "10-audit"), ("/opds/dinkes", "11-opd-detail")):
        page.goto(stack["url"] + path)
        page.wait_for_timeout(300)
        shot(page, name)
    assert "terima oleh kebijakan simpeg-for-all (baris 1)" in page.goto(
        stack["url"] + "/policies/?from=dinkes&to=simpeg&port=tcp/443").text()
    page.goto(stack["url"] + "/audit/")
    assert "Rantai hash utuh" in page.inner_text("#audit-verdict")
    audit = page.inner_text("#audit")
    assert "masuk" in audit and "admin" in audit and "web:127.0.0.1" in audit  # login, in Indonesian


def test_an_auditor_cannot_change_anything(page, stack):
    versions_before, plan_before = daemon(stack).get("/history"), dinkes_class(stack).split()[:4]
    login(page, stack, "aud")
    page.goto(stack["url"] + "/opds/")
    assert "Ubah" not in page.inner_text("#opd-list")  # no edit links ...
    for path, data in (("/opds/dinkes/edit", {"guaranteed": "1mbit", "ceiling": "2mbit"}),
                       ("/changes/apply", {"confirm": "120"}), ("/changes/confirm", {}), ("/changes/rollback", {}),
                       ("/history/1/rollback", {"confirm": "120"}), ("/policies/edit", {"policies": "[]"}),
                       ("/changes/file", {"name": "pnsbox.yaml", "text": "x: 1"}),
                       ("/users", {"name": "eve", "role": "admin", "password": "0123456789ab"})):
        response = form_post(page, stack, path, data)
        assert response.status == 403, f"{path}: {response.status}"  # ... and the server refuses
    api = page.request.put(stack["url"] + "/api/v1/opds/dinkes/bandwidth",
                           headers={"Authorization": "Bearer " + stack["accounts"].add_token("aud", "t")},
                           data={"guaranteed": "1mbit", "ceiling": "2mbit"})
    assert api.status == 403
    assert daemon(stack).get("/history") == versions_before
    assert dinkes_class(stack).split()[:4] == plan_before
    page.goto(stack["url"] + "/history/")
    shot(page, "12-auditor-history")
    page.goto(stack["url"] + "/reports/")  # monthly usage, from the real daemon's book
    assert page.locator("#report-month").count() == 1
    shot(page, "15-auditor-reports")


def test_an_operator_sees_only_their_own_opd(page, stack):
    login(page, stack, "opdinkes")
    page.goto(stack["url"] + "/opds/")
    listing = page.inner_text("#opd-list")
    assert "dinkes" in listing and "bappeda" not in listing and "diskominfo" not in listing
    shot(page, "13-operator-opds")
    assert page.goto(stack["url"] + "/opds/bappeda").status == 404
    assert page.goto(stack["url"] + "/history/").status == 403
    assert set(page.request.get(stack["url"] + "/api/v1/opds").json()) == {"dinkes"}
    assert page.request.get(stack["url"] + "/api/v1/opds/bappeda").status == 404
    assert set(page.request.get(stack["url"] + "/api/v1/live").json()["opds"]) == {"dinkes"}
    page.goto(stack["url"] + "/opds/dinkes")
    response = form_post(page, stack, "/opds/bappeda/edit", {"guaranteed": "1mbit", "ceiling": "2mbit"})
    assert response.status == 404


def test_a_form_without_its_csrf_token_is_refused(page, stack):
    login(page, stack, "admin")
    page.goto(stack["url"] + "/opds/dinkes/edit")
    assert form_post(page, stack, "/opds/dinkes/edit", {"guaranteed": "1mbit", "ceiling": "2mbit"},
                     with_csrf=False).status == 400
    page.evaluate("document.querySelector('#opd-form input[name=csrf_token]').remove()")
    page.click("#opd-form button[type=submit]")
    assert "token keamanannya" in page.inner_text("main")
    page.goto(stack["url"] + "/changes/")
    assert page.locator("#draft-diff").count() == 0  # nothing reached the draft


def test_repeated_bad_logins_are_throttled(page, stack):
    """Last in this module: it blocks sign-ins from 127.0.0.1 for the throttle's window."""
    page.goto(stack["url"] + "/login")
    for _ in range(5):
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "not-the-password")
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("text=Nama pengguna atau kata sandi salah")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", stack["passwords"]["admin"])  # the right one, and still refused
    response_status = []
    page.on("response", lambda r: response_status.append(r.status) if r.url.endswith("/login") else None)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("text=Terlalu banyak percobaan masuk")
    assert 429 in response_status
    shot(page, "14-throttled")

"""What an admin expects of the UI (issue 11): users' roles, OPDs and passwords changed from the
Users page; Indonesian mode all through (role names, dd/mm/yyyy 24-hour times in the site's
timezone, graph legends); the policies page with applications, ports, schedules, the kernel's hit
counters and explain numbered as the table is."""

import re
import subprocess

import pytest
from browserkit import login, shot

from pnsbox.control.client import ControlClient
from pnsbox.lab.topology import exec_argv

pytestmark = pytest.mark.browser


def test_an_admin_changes_a_users_role_and_opds_and_resets_a_password(page, stack):
    login(page, stack, "admin")
    page.goto(stack["url"] + "/users")
    page.click("#users tr:has-text('opdinkes') .edit-user")
    page.select_option("#role-form select[name=opds]", ["dinkes", "bappeda"])
    page.click("#role-form button[type=submit]")
    page.wait_for_selector("text=Pengguna opdinkes diubah")
    assert stack["accounts"].get("opdinkes").opds == ["bappeda", "dinkes"]

    page.goto(stack["url"] + "/users/aud")
    page.fill("#password-form input[name=password]", "auditor-new-secret-7")
    page.click("#password-form button[type=submit]")
    page.wait_for_selector("text=Kata sandi baru untuk aud")
    shot(page, "30-users-reset")
    browser = page.context.browser
    stack["passwords"]["aud"], old = "auditor-new-secret-7", stack["passwords"]["aud"]
    try:
        fresh = browser.new_context(ignore_https_errors=True).new_page()
        login(fresh, stack, "aud")
        assert "(pemeriksa)" in fresh.inner_text("#me")
    finally:
        stack["passwords"]["aud"] = old
    stale = browser.new_context(ignore_https_errors=True).new_page()
    stale.goto(stack["url"] + "/login")
    stale.fill("input[name=username]", "aud")
    stale.fill("input[name=password]", old)
    stale.click("#login-form button[type=submit]")
    stale.wait_for_selector("text=Nama pengguna atau kata sandi salah")  # the old password is gone


def test_indonesian_mode_shows_role_names_dates_and_graph_legends(page, stack):
    login(page, stack, "admin")
    assert "(pengelola)" in page.inner_text("#me")
    page.wait_for_timeout(4500)  # two polls: the graphs have points and a legend
    legend = page.inner_text("#chart-uplink")
    assert "unduh" in legend and "unggah" in legend and "download" not in legend
    page.goto(stack["url"] + "/history/")
    when = page.inner_text("#version-1 td:nth-child(2)")
    assert re.fullmatch(r"\d\d/\d\d/20\d\d [0-2]\d:[0-5]\d:[0-5]\d WIB", when.strip()), when


def test_the_policies_page_shows_apps_ports_schedules_hits_and_explains_by_row(page, stack):
    for _ in range(3):  # dinkes -> simpeg over http: policy simpeg-for-all counts it
        subprocess.run(exec_argv(stack["lab"], "dinkes", ["curl", "-sS", "-m", "2", "-o", "/dev/null",
                                                          "http://10.0.10.10/"]), check=True)
    login(page, stack, "admin")
    page.goto(stack["url"] + "/policies/")
    shot(page, "31-policies")
    assert int(page.inner_text("#policy-row-1 .hits")) >= 3
    assert "kategori video" in page.inner_text("#policy-row-6 .apps")
    assert "tcp/25" in page.inner_text("#policy-row-5") and "tolak" in page.inner_text("#policy-row-5")
    assert "office-hours" in page.inner_text("#policy-row-8")
    page.goto(stack["url"] + "/policies/?from=dinkes&to=internet&port=tcp/25")
    answer = page.inner_text("#explain-answer")
    assert "baris 5" in answer and "policies[" not in answer, answer


def test_opds_history_and_audit_are_searched_filtered_and_paged(page, stack):
    for i in range(6):  # enough entries for two pages of 5
        status, _ = ControlClient(stack["socket"]).request("POST", "/audit/event",
                                                           {"action": "logout", "detail": f"filler {i}", "author": "t"})
        assert status == 200
    login(page, stack, "admin")
    page.goto(stack["url"] + "/opds/?q=kesehatan")
    assert page.locator("#opd-list tbody tr").count() == 1 and page.locator("#opd-dinkes").count() == 1
    page.goto(stack["url"] + "/audit/?action=login&per=5")
    rows = page.locator("#audit tbody tr")
    assert 1 <= rows.count() <= 5
    assert all(rows.nth(i).locator("td").nth(2).inner_text() == "masuk" for i in range(rows.count()))  # login
    page.goto(stack["url"] + "/audit/?per=5")
    assert "Halaman 1 dari" in page.inner_text(".pager")
    first = page.inner_text("#audit tbody tr:first-child td:first-child")
    page.click(".pager a[rel=next]")
    assert "Halaman 2 dari" in page.inner_text(".pager")
    assert int(page.inner_text("#audit tbody tr:first-child td:first-child")) == int(first) - 5
    shot(page, "32-audit-paged")
    page.goto(stack["url"] + "/history/?q=base")
    assert page.locator("#history tbody tr").count() == 1 and page.locator("#version-1").count() == 1


def test_an_admin_adds_and_deletes_opds_and_policies_through_draft_review_and_confirm(page, stack):
    login(page, stack, "admin")
    # A policy from the form, at row 1, applied with a confirm: the kernel holds it.
    page.goto(stack["url"] + "/policies/")
    page.fill("#policy-form input[name=name]", "no-ssh-out")
    page.select_option("#policy-form select[name=from]", ["bappeda"])
    page.select_option("#policy-form select[name=to]", ["internet"])
    page.fill("#policy-form input[name=ports]", "tcp/22")
    page.select_option("#policy-form select[name=action]", "reject")
    page.fill("#policy-form input[name=position]", "1")
    page.click("#policy-form button[type=submit]")
    page.wait_for_selector("#draft-diff")
    assert "+  - {name: no-ssh-out, from: bappeda, to: internet, ports: [tcp/22], action: reject}" in \
        page.inner_text("#draft-diff")
    page.select_option("select[name=confirm]", "120")
    page.click("#apply-button")
    page.click("#confirm-button")
    page.wait_for_selector("text=dikonfirmasi")
    page.goto(stack["url"] + "/policies/?from=bappeda&to=internet&port=tcp/22")
    assert "no-ssh-out" in page.inner_text("#policy-row-1")
    assert "baris 1" in page.inner_text("#explain-answer")
    # ... and deleted again the same way.
    page.click("#policy-row-1 .delete-policy")
    page.wait_for_selector("#draft-diff")
    assert "-  - {name: no-ssh-out" in page.inner_text("#draft-diff")
    page.select_option("select[name=confirm]", "120")
    page.click("#apply-button")
    page.click("#confirm-button")
    page.wait_for_selector("text=dikonfirmasi")
    page.goto(stack["url"] + "/policies/")
    assert "no-ssh-out" not in page.inner_text("#policy-list")

    # A new OPD in its own file; deleting one that policies still name is refused with where.
    page.goto(stack["url"] + "/opds/")
    page.click("#add-opd")
    for field, value in (("key", "dishub"), ("name", "Dinas Perhubungan"), ("subnet", "10.23.0.0/24"),
                         ("interface", "opd-dishub"), ("guaranteed", "20mbit"), ("ceiling", "100mbit")):
        page.fill(f"#opd-new-form input[name={field}]", value)
    page.click("#opd-new-form button[type=submit]")
    page.wait_for_selector("#draft-diff")
    diff = page.inner_text("#draft-diff")
    assert "+++ b/opds/dishub.yaml" in diff and "+  name: Dinas Perhubungan" in diff
    shot(page, "33-opd-added")
    page.click("#draft form[action$='/discard'] button")
    page.goto(stack["url"] + "/opds/")
    page.click("#opd-bappeda .delete-opd")
    assert "bappeda" in page.inner_text(".alert.error")  # dinkes-files still sends to bappeda


def test_an_operator_explains_their_own_opds_traffic(page, stack):
    login(page, stack, "opdinkes")
    page.goto(stack["url"] + "/policies/")
    page.fill("#explain input[name=from]", "dinkes")
    page.fill("#explain input[name=to]", "internet")
    page.fill("#explain input[name=port]", "tcp/25")
    page.click("#explain button[type=submit]")
    answer = page.inner_text("#explain-answer")
    row = page.locator("#policy-list tr:has-text('no-outbound-smtp')").get_attribute("id").rsplit("-", 1)[1]
    assert f"tolak oleh kebijakan no-outbound-smtp (baris {row})" in answer, answer
    page.goto(stack["url"] + "/policies/?from=diskominfo&to=internet&port=tcp/25")  # not theirs: refused
    assert page.locator("#explain-answer").count() == 0
    assert "OPD Anda sendiri" in page.inner_text("#explain")

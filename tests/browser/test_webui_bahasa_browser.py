"""Bahasa Indonesia for what pnsboxd says (issue 11): config problems, plan steps, audit details
and explain reach an Indonesian reader in Indonesian, worded from the codes pnsboxd sends with
its English; FILE:LINE, YAML paths, names and rates stay as they are; English readers get the
CLI's English with policies numbered as the table's rows. And the OPD form sets a plan per
direction and the traffic classes, through the draft, review and confirm, into the kernel."""

import re
import subprocess

import pytest
from browserkit import login, shot

pytestmark = pytest.mark.browser


def _draft_rate(page, stack, ceiling: str) -> None:
    page.goto(stack["url"] + "/opds/dinkes/edit")
    page.fill("#opd-form input[name=ceiling]", ceiling)
    page.click("#opd-form button[type=submit]")


def test_problems_plan_steps_and_audit_details_read_in_indonesian(page, stack):
    login(page, stack, "admin")
    _draft_rate(page, stack, "fast")  # refused by pnsbox's own model, as `pnsbox validate` would
    problem = page.inner_text("#form-problems tbody tr")
    assert problem.startswith("opds/health-and-planning.yaml\t7\topds.dinkes.bandwidth.ceiling\t"), problem
    assert "'fast' bukan laju: tulis angka dan bit, kbit, mbit atau gbit" in problem, problem
    assert "is not a rate" not in problem

    _draft_rate(page, stack, "150mbit")
    page.wait_for_selector("#plan-steps")
    steps = page.inner_text("#plan-steps")
    assert "~ kelas unduh" in steps and "dinkes: 50mbit..150mbit (sebelumnya 50mbit..200mbit)" in steps, steps
    assert " class " not in steps and "(was " not in steps
    shot(page, "40-plan-steps-indonesian")
    page.select_option("select[name=confirm]", "120")
    page.click("#apply-button")
    page.click("#confirm-button")
    page.wait_for_selector("text=dikonfirmasi")

    page.goto(stack["url"] + "/audit/")
    audit = page.inner_text("#audit")
    assert "admin (pengelola)" in audit  # the web UI's own event, sent with its code
    assert "versi 1: base;" in audit and "perubahan" in audit  # pnsboxd's apply of the CLI's version
    assert "konfirmasi dalam 120 detik" in audit
    assert " change(s)" not in audit and "confirm within" not in audit
    kinds = {page.inner_text(f"#audit tbody tr:nth-child({i}) td:nth-child(3)") for i in (1, 2, 3, 4)}
    assert kinds == {"konfirmasi", "penerapan", "masuk"}  # confirm, apply, login
    shot(page, "41-audit-indonesian")


def test_explain_in_english_is_the_clis_english_numbered_by_table_rows(page, stack):
    login(page, stack, "admin")
    page.click("button[name=lang][value=en]")
    try:
        page.goto(stack["url"] + "/policies/?from=dinkes&to=internet&port=tcp/25")
        answer = page.inner_text("#explain-answer")
        assert answer.startswith("reject by policy no-outbound-smtp (row 5)"), answer
        assert "row 6 no-video decides first (reject)" in answer and "policies[" not in answer
        page.goto(stack["url"] + "/policies/?from=bappeda&to=dinkes&port=tcp/445")
        assert page.inner_text("#explain-answer").startswith(
            "drop: no policy matches, the default between zones is deny")
    finally:
        page.click("button[name=lang][value=id]")
    page.goto(stack["url"] + "/policies/?from=bappeda&to=dinkes&port=tcp/445")
    denied = page.inner_text("#explain-answer")
    assert denied.startswith("buang: tidak ada kebijakan yang cocok; bawaan antar zona adalah tolak"), denied
    assert "dibentuk oleh: " in denied and "shaped by" not in denied


_UNITS = {"bit": 1, "Kbit": 10**3, "Mbit": 10**6, "Gbit": 10**9}


def _tc_classes(stack, device: str) -> dict[str, tuple[int, int]]:
    """classid -> (rate, ceil) in bit/s, as the hub's kernel has them (`tc class show`)."""
    out = subprocess.run(["ip", "netns", "exec", stack["hub"], "tc", "class", "show", "dev", device],
                         check=True, capture_output=True, text=True).stdout
    bits = {}
    for found in re.finditer(r"class htb (\S+) .*?rate (\d+)(\w*bit) ceil (\d+)(\w*bit)", out):
        handle, rate, rate_unit, ceil, ceil_unit = found.groups()
        bits[handle] = (int(rate) * _UNITS[rate_unit], int(ceil) * _UNITS[ceil_unit])
    return bits


def test_an_admin_sets_a_plan_per_direction_and_traffic_classes_in_the_form(page, stack):
    login(page, stack, "admin")
    page.goto(stack["url"] + "/opds/dinkes/edit")
    assert page.is_checked("#opd-form input[name=plan_mode][value=both]")
    assert not page.is_visible("#plan-directions")  # the per-direction rates show when chosen
    page.check("#opd-form input[name=plan_mode][value=per_direction]")
    for field, value in (("download_guaranteed", "80mbit"), ("download_ceiling", "300mbit"),
                         ("upload_guaranteed", "20mbit"), ("upload_ceiling", "100mbit")):
        page.fill(f"#opd-form input[name={field}]", value)
    assert page.input_value("#class-row-0 input[name=class-0-name]") == "egov"
    page.fill("#class-row-0 input[name=class-0-share]", "30%")
    page.check("#class-row-1 input[name=class-1-remove]")  # web goes
    page.fill("#class-row-2 input[name=class-2-name]", "video")
    page.fill("#class-row-2 input[name=class-2-share]", "10%")
    page.fill("#class-row-2 input[name=class-2-ceiling]", "50mbit")
    page.select_option("#class-row-2 select[name=class-2-category]", ["video"])
    page.click("#opd-form button[type=submit]")
    page.wait_for_selector("#draft-diff")
    diff = page.inner_text("#draft-diff")
    assert "+    download: {guaranteed: 80mbit, ceiling: 300mbit}" in diff and "-    guaranteed: 50mbit" in diff
    assert "+      egov: {share: 30%, match: {services: [simpeg, mail]}}" in diff and "-      web:" in diff
    assert "+      video: {share: 10%, ceiling: 50mbit, match: {category: [video]}}" in diff
    steps = page.inner_text("#plan-steps")
    assert "~ kelas unduh 1:113 dinkes/video: 8mbit..50mbit (sebelumnya 20mbit..150mbit)" in steps, steps
    assert "~ kelas unggah 1:110 dinkes: 20mbit..100mbit" in steps
    shot(page, "42-opd-form-per-direction-classes")
    page.select_option("select[name=confirm]", "120")
    page.click("#apply-button")
    page.click("#confirm-button")
    page.wait_for_selector("text=dikonfirmasi")

    upload, download = _tc_classes(stack, "pnsbox-ul"), _tc_classes(stack, "pnsbox-dl")
    assert upload["1:110"] == (20_000_000, 100_000_000) and download["1:110"] == (80_000_000, 300_000_000)
    assert (8_000_000, 50_000_000) in download.values()  # video: 10% of 80mbit, up to 50mbit

    page.goto(stack["url"] + "/opds/dinkes/edit")  # the form shows what now runs
    assert page.is_checked("#opd-form input[name=plan_mode][value=per_direction]")
    assert page.input_value("#opd-form input[name=upload_ceiling]") == "100mbit"
    assert [page.input_value(f"#class-row-{i} input[name=class-{i}-name]") for i in range(4)] == [
        "egov", "video", "", ""]


def test_a_refusal_from_pnsboxd_reads_in_indonesian(page, stack):
    login(page, stack, "admin")
    page.goto(stack["url"] + "/policies/?from=dinkes&to=internet&port=443")  # a bare port: refused by pnsboxd
    refused = page.inner_text("#explain .alert.error")
    assert refused == "'443' bukan port: tulis tcp/443, udp/53 atau tcp/8000-8080", refused

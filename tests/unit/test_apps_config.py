"""Policies and classes by application: checked against the catalog, rendered as ct mark matches."""

from pathlib import Path

import pytest

from pnsbox.classifier.catalog import default_catalog
from pnsbox.explain import explain
from pnsbox.facts import Facts
from pnsbox.load import load_site, load_text
from pnsbox.problems import ConfigError
from pnsbox.render.apps import mark_matches, queue_rules_iptables
from pnsbox.render.site import site as render_site
from pnsbox.validate import build

APPS = Path(__file__).resolve().parents[1] / "golden" / "17-apps-iptables-queue" / "site"


def site(edit):
    return (APPS / "pnsbox.yaml").read_text().replace(*edit)


def test_unknown_applications_and_categories_are_named_with_a_hint():
    with pytest.raises(ConfigError) as caught:
        build(load_text(site(("app: zoom,", "app: zoon,")).replace("category: social", "category: socail")))
    text = str(caught.value)
    assert "policies[1].app: no application named `zoon`; did you mean `zoom`?" in text
    assert "policies[0].category: no category named `socail`; did you mean `social`?" in text


def test_application_policies_act_on_forwarded_traffic_only():
    with pytest.raises(ConfigError, match=r"policies\[1\]\.to: application policies act on traffic through"):
        build(load_text(site(("{name: zoom-ok, from: dinkes, to: internet,", "{name: zoom-ok, from: dinkes, to: box,"))))


def test_a_class_may_select_by_category_alone():
    config = build(load_site(APPS))
    assert config.opds["setda"].bandwidth.classes["egov"].match.category == ["e-government"]
    assert config.classifier.queues == 2 and config.classifier.inspect_packets == 10


def test_classification_turns_on_by_itself_when_a_policy_names_an_app():
    text = site(("  classifier: {queues: 2, inspect_packets: 10}\n", ""))
    assert build(load_text(text)).classifier.inspect_packets == 12
    minimal = (APPS.parents[1] / "01-zones-minimal" / "site" / "pnsbox.yaml").read_text()
    assert build(load_text(minimal)).classifier is None
    assert "chain classify" not in render_site(build(load_text(minimal)), Facts(("pfifo",))).nft


def test_marks_carry_the_catalog_ids():
    catalog = default_catalog()
    zoom = catalog.app_id("zoom")
    assert mark_matches(catalog, ["zoom"], []) == [f"ct mark & 0x8000ffff == {0x80000000 | zoom:#010x}"]
    video = catalog.category_id("video")
    assert mark_matches(catalog, [], ["video"]) == [f"ct mark & 0x80ff0000 == {0x80000000 | video << 16:#010x}"]


def test_the_iptables_queue_rule_bounds_packets_and_bypasses():
    config = build(load_site(APPS))
    (rule,) = queue_rules_iptables(config.classifier)
    assert "--connbytes 1:10 " in rule and "--queue-balance 0:1 --queue-bypass" in rule
    assert "--mark 0x0/0x80000000" in rule  # flows with a verdict are never queued again


def test_explain_names_the_application_policies_that_come_first():
    answer = explain(build(load_site(APPS)), "dinkes", "internet", "tcp/443").text()
    assert "policies[1] zoom-ok decides first (accept)" in answer
    assert "policies[2] no-video decides first (drop)" in answer
    assert answer.startswith("accept by policy internet")


def test_on_kernels_with_nft_queue_the_queue_rule_lives_in_the_table():
    config = build(load_site(APPS))
    with_queue = render_site(config, Facts(("pfifo",), nft_queue=True), default_catalog()).nft
    assert "type filter hook forward priority mangle; policy accept;" in with_queue
    assert "ct mark & 0x80000000 == 0 ct packets <= 10 queue flags bypass,fanout to 0-1" in with_queue
    without = render_site(config, Facts(("pfifo",), nft_queue=False), default_catalog())
    assert "queue flags" not in without.nft  # these machines: the iptables-nft chain instead
    assert without.queue_rules and "-j NFQUEUE" in without.iptables


def test_a_kernel_without_the_ftp_helper_gets_no_helper_and_a_warning_naming_what_is_lost():
    config = build(load_site(APPS))
    helped = render_site(config, Facts(("pfifo",), ftp_helper=True), default_catalog())
    assert 'ct helper ftp { type "ftp" protocol tcp; }' in helped.nft and 'ct helper set "ftp"' in helped.nft
    assert helped.warnings == ()
    bare = render_site(config, Facts(("pfifo",), ftp_helper=False), default_catalog())
    assert "ct helper" not in bare.nft  # the kernel would refuse the whole table for one helper
    assert "the classifier's verdict" in bare.nft  # the rest of the classify chain stays
    [warning] = bare.warnings
    assert warning.startswith("site.classifier: ") and "nf_conntrack_ftp" in warning
    assert "active-mode FTP data connections" in warning and "verdict" in warning


def test_without_the_classifier_a_missing_ftp_helper_costs_nothing_and_is_not_mentioned():
    config = build(load_site(APPS.parents[1] / "25-plan-fresh-box" / "site"))
    assert config.classifier is None
    assert render_site(config, Facts(("pfifo",), ftp_helper=False)).warnings == ()


def test_the_ftp_helper_fact_is_read_back_as_written_and_defaults_to_present():
    assert Facts.from_dict(Facts(("pfifo",), ftp_helper=False).as_dict()).ftp_helper is False
    assert Facts.from_dict({"leaf_qdiscs": ["pfifo"]}).ftp_helper is True


def test_pnsbox_render_warns_on_stderr_and_keeps_stdout_the_ruleset(capsys):
    from pnsbox.cli import main

    case = APPS.parents[1] / "31-plan-kernel-without-ftp-helper"
    assert main(["render", "-c", str(case / "site"), "--facts", str(case / "facts.yaml"), "--part", "nft"]) == 0
    out, err = capsys.readouterr()
    assert out == (case / "expected.nft").read_text()
    assert err.startswith("warning: site.classifier: this kernel has no FTP conntrack helper")

"""plan.compute: desired vs observed state -> readable steps (pure)."""

import pytest

from pnsbox.facts import Facts
from pnsbox.load import load_text
from pnsbox.plan import Observed, PlanError, StepKind, compute
from pnsbox.render.net import render_net
from pnsbox.render.site import site
from pnsbox.validate import build

SITE = """\
site:
  name: t
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
opds:
  dinkes: {name: D, subnet: 10.21.0.0/24, link: {interface: opd-dinkes}}
  bappeda: {name: B, subnet: 10.22.0.0/24, link: {vlan: 122, trunk: lan0}}
"""


def render(config):
    return site(config, Facts(("pfifo",))).ruleset


@pytest.fixture
def config():
    return build(load_text(SITE))


def observed(config, **changes):
    ruleset = render(config)
    state = dict(
        links={"wan0": {"up": True}, "opd-dinkes": {"up": True}, "lan0": {"up": True},
               "lan0.122": {"up": True}},
        addresses={("wan0", "198.51.100.2/24"), ("opd-dinkes", "10.21.0.1/24"), ("lan0.122", "10.22.0.1/24")},
        routes={("default", "wan0", "198.51.100.1")},
        forwarding=True, ruleset_digest=ruleset.digest, owned_addresses=set(), owned_links=set())
    state.update(changes)
    return Observed(**state)


def test_nothing_to_change_when_everything_runs(config):
    assert compute(render_net(config), render(config), observed(config)) == []


def test_fresh_box(config):
    seen = observed(config, links={"wan0": {"up": False}, "opd-dinkes": {"up": False}, "lan0": {"up": True}},
                    addresses=set(), routes=set(), forwarding=False, ruleset_digest=None)
    texts = [s.text for s in compute(render_net(config), render(config), seen)]
    ruleset = next(i for i, t in enumerate(texts) if t.startswith("+ nftables table inet pnsbox"))
    first_address = next(i for i, t in enumerate(texts) if t.startswith("+ address"))
    assert ruleset < first_address  # never forward on new addresses without the new policy
    assert "+ link lan0.122: VLAN 122 on lan0" in texts
    assert "+ address 10.21.0.1/24 on opd-dinkes" in texts
    assert "+ route default via 198.51.100.1 dev wan0" in texts
    assert texts[-1] == "~ sysctl net.ipv4.ip_forward = 1"


def test_removes_only_what_pnsbox_added(config):
    seen = observed(config, addresses=observed(config).addresses | {("opd-dinkes", "10.99.0.1/24"),
                                                                    ("opd-dinkes", "10.98.0.1/24")},
                    owned_addresses={("opd-dinkes", "10.99.0.1/24")},
                    routes={("default", "wan0", "198.51.100.1"), ("10.5.0.0/16", "wan0", "198.51.100.9")})
    texts = [s.text for s in compute(render_net(config), render(config), seen)]
    assert texts == ["- route 10.5.0.0/16 via 198.51.100.9 dev wan0", "- address 10.99.0.1/24 on opd-dinkes"]  # routes first


def test_missing_interface_is_refused_before_any_change(config):
    links = {"wan0": {"up": True}, "lan0.122": {"up": True}}
    with pytest.raises(PlanError, match="opds.dinkes.link: interface opd-dinkes does not exist"):
        compute(render_net(config), render(config), observed(config, links=links))


def test_ruleset_change_is_shown_as_a_diff(config):
    old = render(config)
    changed = build(load_text(SITE + "policies:\n  - {name: web, from: opds, to: internet, action: accept}\n"))
    seen = observed(config, last_ruleset=old.text)
    steps = compute(render_net(changed), render(changed), seen)
    assert len(steps) == 1 and steps[0].kind is StepKind.RULESET
    assert '+\t\toifname . ip daddr @zone_internet counter accept comment "policies[0] web"' in steps[0].text


def test_a_vlan_link_on_a_kernel_without_8021q_is_refused_before_anything_changes(config):
    seen = observed(config, links={"wan0": {"up": True}, "opd-dinkes": {"up": True}, "lan0": {"up": True}})
    with pytest.raises(PlanError, match="opds.bappeda.link: VLAN 122 on lan0: this kernel has no 802.1Q"):
        compute(render_net(config), render(config), seen, vlan=False)


def test_a_missing_interface_reads_in_indonesian_across_the_control_socket(config):
    from pnsbox.wording import render as word

    links = {"wan0": {"up": True}, "lan0": {"up": True}}
    with pytest.raises(PlanError) as refused:
        compute(render_net(config), render(config), observed(config, links=links))
    back = PlanError.from_reply(refused.value.reply())
    assert str(back) == str(refused.value)  # the CLI's English, line by line as before
    assert word(back.said, "en") == str(back)
    indonesian = word(back.said, "id").splitlines()
    assert len(indonesian) == len(str(back).splitlines())
    assert any(line.endswith("opds.dinkes.link: antarmuka opd-dinkes tidak ada di perangkat ini")
               for line in indonesian), indonesian


def test_a_failed_check_is_said_with_its_code_from_a_real_socket():
    """A TCP check to a loopback port nothing listens on fails for real; its words in both languages."""
    import socket

    from pnsbox.checks import run_checks
    from pnsbox.daemon.core import say
    from pnsbox.model import Checks
    from pnsbox.wording import render as word

    with socket.socket() as probe:  # a port that was just free: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failures = run_checks(Checks(tcp=[f"127.0.0.1:{port}"], timeout=2), None)
    assert failures == [f"tcp 127.0.0.1:{port}: Connection refused"]
    assert word(failures[0].as_json(), "id") == f"tcp 127.0.0.1:{port}: Connection refused"
    said = say("checks.failed", version=3, failures=failures * 2, restored=say("audit.restored.version", version=2))
    assert said == f"version 3 failed its checks: {failures[0]}; {failures[0]}; back to version 2"
    assert word(said.as_json(), "id") == (f"versi 3 gagal dalam pemeriksaannya: {failures[0]}; {failures[0]}; "
                                            "kembali ke versi 2")

"""apply against the real kernel, in namespaces this module builds and removes."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from labkit import delete_netns

from pnsbox.apply import nft
from pnsbox.apply.netns import KernelError
from pnsbox.apply.pipeline import apply, plan, render_for
from pnsbox.load import load_site, load_text
from pnsbox.observe import table
from pnsbox.validate import build

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "rules" / "examples" / "province"
GOLDEN = ROOT / "tests" / "golden"
DEVICES = ["wan0", "opd-dinkes", "opd-bappeda", "lan0.130", "dc0"]


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def hub(tmp_path):
    """A hub namespace with the example's interfaces (veth peers in a sink namespace)."""
    tag = uuid.uuid4().hex[:6]
    name, sink = f"pnstest-{tag}-hub", f"pnstest-{tag}-sink"
    ip("netns", "add", name)
    ip("netns", "add", sink)
    try:
        for i, device in enumerate(DEVICES):
            ip("-n", name, "link", "add", device, "type", "veth", "peer", "name", f"p{i}", "netns", sink)
        yield name
    finally:
        delete_netns(name)
        subprocess.run(["ip", "netns", "del", sink])


def addresses(netns):
    out = subprocess.run(["ip", "-n", netns, "-4", "-o", "addr"], capture_output=True, text=True).stdout
    return {(line.split()[1], line.split()[3]) for line in out.splitlines()}


def test_apply_then_reapply_changes_nothing(hub, tmp_path):
    config = build(load_site(EXAMPLE))
    first = apply(config, hub, str(tmp_path))
    assert first.changed
    assert table.running_digest(hub) == render_for(config, hub, str(tmp_path)).ruleset.digest
    assert ("opd-dinkes", "10.21.0.1/24") in addresses(hub)
    assert ("lan0.130", "10.31.0.1/24") in addresses(hub)
    again = apply(config, hub, str(tmp_path))
    assert again.steps == []
    assert plan(config, hub, str(tmp_path)).steps == []


def test_only_pnsbox_table_is_replaced(hub, tmp_path):
    subprocess.run(["ip", "netns", "exec", hub, "nft", "add", "table", "inet", "theirs"], check=True)
    apply(build(load_site(EXAMPLE)), hub, str(tmp_path))
    tables = subprocess.run(["ip", "netns", "exec", hub, "nft", "list", "tables"],
                            capture_output=True, text=True).stdout
    assert "table inet theirs" in tables and "table inet pnsbox" in tables


def test_removing_an_opd_removes_what_pnsbox_added_and_nothing_else(hub, tmp_path):
    config = build(load_site(EXAMPLE))
    apply(config, hub, str(tmp_path))
    ip("-n", hub, "addr", "add", "192.0.2.9/24", "dev", "opd-bappeda")  # someone else's address
    text = (EXAMPLE / "pnsbox.yaml").read_text()
    text = text.replace("  - {name: dinkes-files, from: dinkes, to: bappeda, ports: [tcp/445], action: accept,\n"
                        "     schedule: office-hours}\n", "")
    smaller = build(load_text(text + """
opds:
  dinkes: {name: Dinas Kesehatan, subnet: 10.21.0.0/24, link: {interface: opd-dinkes}}
  diskominfo: {name: Diskominfo, subnet: 10.30.0.0/24, link: {interface: lan0.130}}
""", "site.yaml"))
    result = apply(smaller, hub, str(tmp_path))
    texts = [s.text for s in result.steps]
    assert "- address 10.22.0.1/24 on opd-bappeda" in texts
    assert "- address 10.31.0.1/24 on lan0.130" in texts
    now = addresses(hub)
    assert ("opd-bappeda", "10.22.0.1/24") not in now
    assert ("opd-bappeda", "192.0.2.9/24") in now
    assert apply(smaller, hub, str(tmp_path)).steps == []


def test_missing_interface_changes_nothing(hub, tmp_path):
    ip("-n", hub, "link", "del", "opd-bappeda")
    from pnsbox.plan import PlanError

    with pytest.raises(PlanError, match="opds.bappeda.link: interface opd-bappeda does not exist"):
        apply(build(load_site(EXAMPLE)), hub, str(tmp_path))
    assert table.running_digest(hub) is None
    assert addresses(hub) == set()


def test_kernel_errors_name_the_policy(hub, tmp_path):
    ruleset = render_for(build(load_site(EXAMPLE)), hub, str(tmp_path)).ruleset
    broken = ruleset.text.replace('counter accept comment "policies[6] internet"',
                                  'counter acceptt comment "policies[6] internet"')
    assert broken != ruleset.text
    with pytest.raises(KernelError, match=r"policies\[6\] internet: nft Error"):
        nft.check(type(ruleset)(broken, ruleset.digest, ruleset.origins), hub)


@pytest.mark.parametrize("case", sorted(p.parent.name for p in GOLDEN.glob("[0-9][0-9]-*/facts.yaml")))
def test_every_golden_ruleset_is_accepted_by_the_kernel(hub, case):
    """The case's facts, but this kernel's answer on nft `queue` (a case may name leaf queues
    this kernel lacks, which only tc cares about). A case without the FTP helper keeps its
    answer: a ruleset without the helper loads on any kernel."""
    import yaml

    from pnsbox.classifier.catalog import default_catalog
    from pnsbox.facts import Facts
    from pnsbox.observe.facts import probe
    from pnsbox.render.site import site

    facts = Facts.from_dict(yaml.safe_load((GOLDEN / case / "facts.yaml").read_text()))
    here = Facts(facts.leaf_qdiscs, probe().nft_queue, facts.vlan, ftp_helper=facts.ftp_helper)
    case_file = GOLDEN / case / "case.yaml"
    peer = (yaml.safe_load(case_file.read_text()) or {}).get("peer") if case_file.is_file() else None
    nft.check(site(build(load_site(GOLDEN / case / "site")), here, default_catalog(), peer=peer).ruleset, hub)


def test_cli_bad_config_applies_nothing(hub, tmp_path):
    bad = tmp_path / "site"
    bad.mkdir()
    (bad / "pnsbox.yaml").write_text((EXAMPLE / "pnsbox.yaml").read_text().replace("to: simpeg,", "to: simpg,"))
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "pnsbox"), "apply", "-c", str(bad), "--netns", hub,
                           "--state-dir", str(tmp_path / "state")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "policies[0].to: no zone named `simpg`; did you mean `simpeg`?" in proc.stderr
    assert "nothing was applied" in proc.stderr
    assert table.running_digest(hub) is None


def test_someone_elses_clsact_survives_pnsbox(hub, tmp_path):
    subprocess.run(["tc", "-n", hub, "qdisc", "add", "dev", "opd-bappeda", "clsact"], check=True)
    config = build(load_site(EXAMPLE))
    apply(config, hub, str(tmp_path))
    filters = subprocess.run(["tc", "-n", hub, "filter", "show", "dev", "opd-bappeda", "egress"],
                             capture_output=True, text=True).stdout
    assert "pnsbox-dl" in filters  # pnsbox added its redirect to the existing clsact
    text = (EXAMPLE / "pnsbox.yaml").read_text().replace(
        "  - {name: dinkes-files, from: dinkes, to: bappeda, ports: [tcp/445], action: accept,\n"
        "     schedule: office-hours}\n", "")
    smaller = build(load_text(text + """
opds:
  dinkes: {name: Dinas Kesehatan, subnet: 10.21.0.0/24, link: {interface: opd-dinkes}}
  diskominfo: {name: Diskominfo, subnet: 10.30.0.0/24, link: {interface: lan0.130}}
""", "site.yaml"))
    apply(smaller, hub, str(tmp_path))
    qdiscs = subprocess.run(["tc", "-n", hub, "qdisc", "show", "dev", "opd-bappeda"],
                            capture_output=True, text=True).stdout
    filters = subprocess.run(["tc", "-n", hub, "filter", "show", "dev", "opd-bappeda", "egress"],
                             capture_output=True, text=True).stdout
    assert "clsact" in qdiscs and "pnsbox-dl" not in filters


def cli(*args: str) -> str:
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "pnsbox"), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_render_for_a_namespace_prints_byte_for_byte_what_apply_loaded(hub, tmp_path):
    """The same OPDs in another order keep their recorded class slots: `render --netns` knows
    them (and the kernel's facts), a render for a described kernel with fresh slots does not."""
    import shutil

    from pnsbox.apply.owned import OwnedRecord

    site, state = tmp_path / "site", str(tmp_path / "state")
    shutil.copytree(EXAMPLE, site)
    cli("apply", "-c", str(site), "--netns", hub, "--state-dir", state)
    (site / "opds" / "diskominfo.yaml").rename(site / "opds" / "zz-diskominfo.yaml")
    cli("apply", "-c", str(site), "--netns", hub, "--state-dir", state)
    printed = cli("render", "-c", str(site), "--netns", hub, "--state-dir", state)
    loaded = OwnedRecord(state, hub).read().ruleset
    assert printed == loaded
    assert f'comment "pnsbox {table.running_digest(hub)}"' in printed
    facts = tmp_path / "facts.yaml"
    facts.write_text("leaf_qdiscs: [pfifo]\nnft_queue: false\nvlan: false\n")
    fresh = cli("render", "-c", str(site), "--facts", str(facts))
    assert fresh != printed  # fresh slots point the maps at other classes
    checked = cli("check", "-c", str(site), "--netns", hub, "--state-dir", state)
    assert "the kernel accepts the ruleset" in checked


def test_on_a_kernel_recorded_without_the_ftp_helper_plan_warns_and_apply_loads_no_helper(hub, tmp_path):
    """The probe's answer as the state records it (this kernel has the helper, so the record
    says otherwise): plan and `pnsbox plan` say what is lost, and the loaded table has no
    ct helper for the kernel to refuse."""
    from pnsbox.apply.owned import OwnedRecord
    from pnsbox.observe.facts import kernel_release, probe
    from pnsbox.render.site import NO_FTP_HELPER

    found = probe()
    assert found.ftp_helper  # this kernel: CONFIG_NF_CONNTRACK_FTP=y
    OwnedRecord(str(tmp_path), hub).write(facts={"kernel": kernel_release(), **found.as_dict(), "ftp_helper": False})
    config = build(load_site(EXAMPLE))
    assert plan(config, hub, str(tmp_path)).warnings == (NO_FTP_HELPER,)
    cli = subprocess.run([str(ROOT / ".venv" / "bin" / "pnsbox"), "plan", "-c", str(EXAMPLE), "--netns", hub,
                          "--state-dir", str(tmp_path)], capture_output=True, text=True)
    assert cli.returncode == 0 and cli.stdout.startswith(f"warning: {NO_FTP_HELPER}\n"), cli.stdout[:500] + cli.stderr
    apply(config, hub, str(tmp_path))
    loaded = subprocess.run(["ip", "netns", "exec", hub, "nft", "list", "table", "inet", "pnsbox"],
                            capture_output=True, text=True, check=True).stdout
    assert "chain classify" in loaded and "ct helper" not in loaded

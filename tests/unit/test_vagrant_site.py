"""The Vagrant province's site (deploy/vagrant/site) is the example site plus a second office
across town, and the Vagrantfile's edge machines are the site's tunnelled OPDs: they cannot
drift apart."""

import re
import subprocess
from pathlib import Path

from pnsbox.load import load_site
from pnsbox.validate import build

ROOT = Path(__file__).resolve().parents[2]
VAGRANT_SITE = ROOT / "deploy" / "vagrant" / "site"
EXAMPLE = ROOT / "rules" / "examples" / "province"


def _files(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): path.read_text() for path in sorted(root.rglob("*.yaml"))}


def test_the_vagrant_site_is_the_example_with_one_more_office_across_town():
    example, vagrant = _files(EXAMPLE), _files(VAGRANT_SITE)
    assert {name: vagrant[name] for name in example} == example
    assert set(vagrant) - set(example) == {"opds/transport.yaml"}


def test_the_vagrantfiles_edge_machines_are_the_sites_tunnelled_opds_and_enrol_at_its_edges_url():
    config = build(load_site(str(VAGRANT_SITE)))
    tunnelled = {name: opd for name, opd in config.opds.items() if opd.link.is_wireguard}
    vagrantfile = (ROOT / "Vagrantfile").read_text()
    edges = re.search(r"^EDGES = \{(.*?)\}\.freeze", vagrantfile, re.S | re.M).group(1)
    machines = dict(re.findall(r'"(\w+)" => \["\w+", "[\d.]+", "([\d.]+)"\]', edges))
    assert set(machines) == set(tunnelled) and len(machines) == 2
    for name, lan in machines.items():  # the edge's LAN address is its OPD subnet's first address
        assert lan == str(next(tunnelled[name].subnet[0].hosts())), name
    assert f'HUB_URL = "{config.site.edges_url}"' in vagrantfile


def test_provision_sh_is_a_valid_posix_shell_script():
    checked = subprocess.run(["sh", "-n", str(ROOT / "deploy" / "provision.sh")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr

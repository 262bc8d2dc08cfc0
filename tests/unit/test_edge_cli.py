"""`pnsbox edge token add|list`, `edge list`, `edge disable` without a daemon: the same code
in process on --state-dir, the site from -c."""

from pnsbox.cli import main
from pnsbox.edge.book import EdgeBook
from pnsbox.edge.keys import new_private_key, public_key
from pnsbox.load import load_site
from pnsbox.validate import build

SITE = """\
site:
  name: test
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
  wireguard: {tunnel: 10.255.0.0/16}
opds:
  dinkes: {name: Dinkes, subnet: 10.21.0.0/24, link: {interface: opd-dinkes}}
  disdik: {name: Disdik, subnet: 10.61.0.0/24, link: {wireguard: {}}}
"""


def test_a_token_is_printed_once_listed_and_used(tmp_path, capsys):
    (tmp_path / "pnsbox.yaml").write_text(SITE)
    where = ["-c", str(tmp_path), "--state-dir", str(tmp_path / "state"), "--socket", str(tmp_path / "none.sock")]
    assert main(["edge", "token", "add", "disdik", "--expires", "2h", *where]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("pnsbox-") and "shown only now" in out.err
    assert main(["edge", "token", "list", *where]) == 0
    listed = capsys.readouterr().out
    assert "disdik" in listed and "valid" in listed and token not in listed
    book = EdgeBook(tmp_path / "state")
    book.enroll(build(load_site(str(tmp_path))), token, public_key(new_private_key()))
    assert main(["edge", "list", *where]) == 0
    assert "enrolled" in capsys.readouterr().out
    assert main(["edge", "disable", "disdik", *where]) == 0
    assert book.read().edges["disdik"].disabled


def test_a_token_for_a_wired_opd_is_refused_with_exit_1(tmp_path, capsys):
    (tmp_path / "pnsbox.yaml").write_text(SITE)
    where = ["-c", str(tmp_path), "--state-dir", str(tmp_path / "state"), "--socket", str(tmp_path / "none.sock")]
    assert main(["edge", "token", "add", "dinkes", *where]) == 1
    assert "OPD dinkes has no WireGuard link" in capsys.readouterr().err
    assert not (tmp_path / "state" / "edges.json").exists()

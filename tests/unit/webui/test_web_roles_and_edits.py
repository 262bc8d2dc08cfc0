import os
from pathlib import Path

import pytest
from webui_fakes import example_files

from pnsbox.cli import main
from pnsbox.errors import ConfigError
from webui import roles
from webui.accounts import User
from webui.config_edit import EditError, edit_opd, move_policy, set_policies
from webui.site import parse

ADMIN, AUDITOR = User("a", "admin"), User("u", "auditor")
OPERATOR = User("o", "operator", ["dinkes"])


def test_edit_keeps_comments_and_other_fields():
    files = example_files()
    new = edit_opd(files, "dinkes", guaranteed="60mbit", ceiling="250mbit")
    text = new["opds/health-and-planning.yaml"]
    assert "# shares of the guarantee; the rest is the default class" in text
    assert "# planning season: more during office hours" in text
    dinkes = parse(new).opds["dinkes"]
    assert (dinkes.bandwidth.guaranteed, dinkes.bandwidth.ceiling) == (60_000_000, 250_000_000)
    assert dinkes.bandwidth.classes["egov"].share == 40
    assert new["pnsbox.yaml"] == files["pnsbox.yaml"]  # only the OPD's file is rewritten


def test_edit_subnet_link_and_name():
    new = edit_opd(example_files(), "diskominfo", name="Diskominfo", subnets=["10.30.0.0/24"],
                   link={"vlan": 131, "trunk": "lan0"})
    opd = parse(new).opds["diskominfo"]
    assert [str(net) for net in opd.subnet] == ["10.30.0.0/24"] and (opd.link.vlan, opd.link.trunk) == (131, "lan0")
    assert opd.name == "Diskominfo"
    assert "# The IT office sits on the campus fibre" in new["opds/diskominfo.yaml"]


def cli_problems(files: dict[str, str], tmp_path, capsys) -> list[str]:
    """What `pnsbox validate` prints for these files, with the directory left off the file names."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    capsys.readouterr()
    assert main(["validate", "-c", str(tmp_path)]) == ConfigError.exit_code
    return [line.removeprefix(f"{tmp_path}/") for line in capsys.readouterr().err.splitlines()[:-1]]


@pytest.mark.parametrize("change, path", [
    ({"guaranteed": "50m"}, "opds.dinkes.bandwidth.guaranteed"),  # the web UI's own parser took 50m
    ({"guaranteed": 50}, "opds.dinkes.bandwidth.guaranteed"),  # ... and bare numbers
    ({"guaranteed": "90mbit", "ceiling": "50mbit"}, "opds.dinkes.bandwidth.ceiling"),
    ({"subnets": ["10.21.0.1/24"]}, "opds.dinkes.subnet"),
    ({"link": {"vlan": 5000, "trunk": "lan0"}}, "opds.dinkes.link.vlan"),
    ({"name": ""}, "opds.dinkes.name"),
])
def test_an_edit_is_refused_exactly_as_the_cli_refuses_the_files_it_makes(change, path, tmp_path, capsys):
    files = edit_opd(example_files(), "dinkes", **change)
    with pytest.raises(ConfigError) as refused:
        parse(files)
    shown = [str(p) for p in refused.value.problems]
    assert shown == cli_problems(files, tmp_path, capsys)
    assert any(p.path.startswith(path) and p.file.endswith(".yaml") and p.line > 0 for p in refused.value.problems), shown


def test_edits_that_cannot_be_made_name_what_is_wrong():
    with pytest.raises(EditError, match="no OPD"):
        edit_opd(example_files(), "nosuch", guaranteed="1mbit")


def test_policies_edit_and_move():
    files = example_files()
    moved = parse(move_policy(files, 1, -1)).policies
    assert [p.name for p in moved[:2]] == ["mail-for-all", "simpeg-for-all"]
    new = set_policies(files, "- {name: only, from: opds, to: internet, action: accept}  # just one\n")
    assert [p.name for p in parse(new).policies] == ["only"]
    assert "# just one" in new["pnsbox.yaml"] and "# only the IT office reaches the box itself" in new["pnsbox.yaml"]
    with pytest.raises(EditError, match="list of policies"):
        set_policies(files, "name: x\n")
    with pytest.raises(ConfigError) as refused:  # read by pnsbox.load first: its words, its line
        set_policies(files, "- {name: a, from: opds, to: internet, action: accept}\n- &x {name: b}\n")
    assert [str(p) for p in refused.value.problems] == [
        "policies:2: policies: YAML anchors and aliases (&name, *name) are not used in a site file: write the value out"]


def test_scope_of_each_role():
    files = example_files()
    own_plan = edit_opd(files, "dinkes", guaranteed="60mbit", ceiling="250mbit")
    other_plan = edit_opd(files, "bappeda", guaranteed="40mbit", ceiling="100mbit")
    own_subnet = edit_opd(files, "dinkes", subnets=["10.21.0.0/25"])
    roles.check_change_scope(ADMIN, files, other_plan)
    roles.check_change_scope(OPERATOR, files, own_plan)
    with pytest.raises(roles.Forbidden, match="not yours"):
        roles.check_change_scope(OPERATOR, files, other_plan)
    with pytest.raises(roles.Forbidden, match="only bandwidth plans"):
        roles.check_change_scope(OPERATOR, files, own_subnet)
    with pytest.raises(roles.Forbidden, match="policies"):
        roles.check_change_scope(OPERATOR, files, move_policy(files, 0, 1))
    with pytest.raises(roles.Forbidden, match="auditors"):
        roles.check_change_scope(AUDITOR, files, own_plan)


def test_what_an_operator_sees():
    site = parse(example_files())
    assert set(roles.visible_opds(OPERATOR, site)) == {"dinkes"}
    names = [p.name for p in site.policies if roles.can_see_policy(OPERATOR, p)]
    assert "dinkes-files" in names and "simpeg-for-all" in names and "it-support" in names
    assert set(roles.visible_opds(AUDITOR, site)) == {"diskominfo", "dinkes", "bappeda", "dispar"}


def test_the_web_process_reads_the_model_but_never_imports_the_kernel_touching_code(tmp_path):
    """pnsbox-web runs unprivileged: pnsbox.load/validate/model and the control client, never apply/."""
    import subprocess
    import sys

    probe = ("import sys; from pathlib import Path; from webui.app import create_app; from webui.settings import Settings;"
             f"app = create_app(Settings(state_dir=Path({str(tmp_path)!r}), socket='/nonexistent'));"
             "from webui.site import parse; from webui_fakes import example_files; parse(example_files());"
             "print(sorted(m for m in sys.modules if m.startswith(('pnsbox.apply', 'pnsbox.daemon', 'pnsbox.observe'))))")
    here = str(Path(__file__).resolve().parent)
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=here,
                           env={**os.environ, "PYTHONPATH": here})
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[]"


def test_an_edit_refused_for_its_own_reason_is_flashed_not_a_server_error(browser):
    """Deleting an OPD the draft does not have: the edit's own error (not a config problem with a
    file and line) comes back as a message on the page it started from."""
    admin = browser("admin")
    response = admin.post("/opds/nosuch/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/opds/")
    page = admin.get("/opds/").get_data(as_text=True)
    assert "no OPD nosuch" in page, page

"""An HA pair's pure parts: which hub a render is for, the steps that start and reload keepalived
and conntrackd, the notify hook's role record, and reading the moving addresses back."""

import shutil
import subprocess
from pathlib import Path

import pytest

from pnsbox.apply import ha as apply_ha
from pnsbox.apply import ha_notify
from pnsbox.errors import PeerError
from pnsbox.facts import STOCK_KERNEL
from pnsbox.load import load_site
from pnsbox.observe.ha import HARunning, moving_addresses
from pnsbox.plan import StepKind
from pnsbox.plan_ha import ha_steps
from pnsbox.render.ha import HAPaths, ha_paths, kept_routes
from pnsbox.render.net import render_net, virtual_addresses
from pnsbox.render.site import site
from pnsbox.validate import build

PAIR = Path(__file__).resolve().parents[1] / "golden" / "45-ha-pair-hub-a" / "site"
PATHS = ha_paths("pnsbox-lab-hub-a", "/opt/pnsbox/venv/bin/pnsbox")


@pytest.fixture(scope="module")
def pair():
    return build(load_site(PAIR))


def test_an_ha_site_is_rendered_only_for_a_named_peer(pair):
    with pytest.raises(PeerError, match="hub-a, hub-b"):
        site(pair, STOCK_KERNEL)
    with pytest.raises(PeerError, match="--peer hub-c"):
        site(pair, STOCK_KERNEL, peer="hub-c")
    a, b = site(pair, STOCK_KERNEL, peer="hub-a"), site(pair, STOCK_KERNEL, peer="hub-b")
    assert a.ruleset.digest == b.ruleset.digest  # one ruleset for the pair
    assert "unicast_src_ip 10.254.0.1 " in a.keepalived and "unicast_src_ip 10.254.0.2 " in b.keepalived
    assert [x.address for x in a.net.addresses] == ["10.254.0.1/24"]
    assert [x.address for x in b.net.addresses] == ["10.254.0.2/24"]


def test_a_namespace_keeps_every_file_of_its_hub_apart(pair):
    one, other = ha_paths("pnsbox-x-hub-a", "/p"), ha_paths("pnsbox-x-hub-b", "/p")
    for attribute in ("keepalived_conf", "conntrackd_conf", "conntrackd_socket", "conntrackd_lock", "role_file",
                      "keepalived_pid", "vrrp_pid", "links_script"):
        assert getattr(one, attribute) != getattr(other, attribute)
    text = site(pair, STOCK_KERNEL, peer="hub-a", ha=one).conntrackd
    assert f"Path {one.conntrackd_socket}" in text and f"LockFile {one.conntrackd_lock}" in text


def test_the_moving_addresses_read_back_from_keepalived_conf_are_the_rendered_ones(pair):
    text = site(pair, STOCK_KERNEL, peer="hub-b", ha=PATHS).keepalived
    assert moving_addresses(text) == [(w.device, w.address) for w in virtual_addresses(pair)]


def test_conntrackd_starts_before_keepalived_and_a_running_keepalived_is_reloaded_in_place():
    nothing = HARunning(None, None, None, None)
    steps = ha_steps("K", "C", "S", nothing, PATHS)
    assert [s.kind for s in steps] == [StepKind.HA_CONNTRACKD, StepKind.HA_KEEPALIVED]
    assert steps[1].text.endswith("start") and steps[1].args == ("K", "S")
    running = HARunning("K", "C", 10, 11, "S")
    assert ha_steps("K", "C", "S", running, PATHS) == []
    changed = ha_steps("K2", "C", "S", running, PATHS)
    assert [s.kind for s in changed] == [StepKind.HA_KEEPALIVED] and changed[0].text.endswith("reload (SIGHUP)")
    assert ha_steps("K", "C", "S2", running, PATHS)[0].kind is StepKind.HA_KEEPALIVED
    restarted = ha_steps("K", "C2", "S", running, PATHS)
    assert [s.kind for s in restarted] == [StepKind.HA_CONNTRACKD] and "restart" in restarted[0].text


def test_a_site_that_is_no_longer_ha_stops_what_runs_and_nothing_else():
    assert ha_steps("", "", "", HARunning(None, None, None, None), PATHS) == []
    steps = ha_steps("", "", "", HARunning("K", "C", 10, 11), PATHS)
    assert [(s.kind, s.args) for s in steps] == [(StepKind.HA_STOP, ("keepalived",)),
                                                 (StepKind.HA_STOP, ("conntrackd",))]


def test_role_json_counts_changes_and_keeps_since_while_the_role_stays(tmp_path):
    first = ha_notify.record(str(tmp_path), "standby", "hub-a", order=[100, 1])
    assert first["transitions"] == 0 and first["role"] == "standby"
    again = ha_notify.record(str(tmp_path), "standby", None, order=[101, 2])
    assert again["since"] == first["since"] and again["transitions"] == 0 and again["peer"] == "hub-a"
    active = ha_notify.record(str(tmp_path), "active", None, order=[102, 3])
    assert active["transitions"] == 1 and ha_notify.read(str(tmp_path))["role"] == "active"


def test_a_hook_keepalived_forked_earlier_never_overwrites_a_later_transition(tmp_path):
    ha_notify.record(str(tmp_path), "active", "hub-a", order=[200, 7])
    assert ha_notify.record(str(tmp_path), "standby", "hub-a", order=[199, 9]) is None
    assert ha_notify.read(str(tmp_path))["role"] == "active"
    assert ha_notify.record(str(tmp_path), "fault", "hub-a", order=[200, 8])["role"] == "fault"  # same tick, later pid


@pytest.mark.skipif(not shutil.which("keepalived"), reason="keepalived is not installed")
@pytest.mark.parametrize("peer", ["hub-a", "hub-b"])
def test_keepalived_reads_the_rendered_config_with_no_complaint_but_the_missing_interfaces(pair, peer, tmp_path):
    path = tmp_path / "keepalived.conf"
    path.write_text(site(pair, STOCK_KERNEL, peer=peer, ha=PATHS).keepalived)
    out = subprocess.run(["keepalived", "-t", "-f", str(path)], capture_output=True, text=True)
    complaints = [line for line in (out.stdout + out.stderr).splitlines()
                  if "doesn't exist" not in line and line != "Non-existent interface specified in configuration"]
    assert complaints == []
    assert out.returncode in (0, 5)  # 5: the interfaces are not on this machine, which -t also says


def test_keepalived_config_check_does_catch_a_bad_keyword(pair, tmp_path):
    """The check above can fail: a misspelt keyword is reported."""
    if not shutil.which("keepalived"):
        pytest.skip("keepalived is not installed")
    path = tmp_path / "keepalived.conf"
    path.write_text(site(pair, STOCK_KERNEL, peer="hub-a", ha=PATHS).keepalived.replace("nopreempt", "nopreemptx"))
    out = subprocess.run(["keepalived", "-t", "-f", str(path)], capture_output=True, text=True)
    assert "Unknown keyword 'nopreemptx'" in out.stdout + out.stderr


def test_a_namespace_hub_logs_to_files_of_its_run_directory_and_the_box_to_syslog(pair):
    lab = site(pair, STOCK_KERNEL, peer="hub-a", ha=PATHS)
    assert f"LogFile {PATHS.run_dir}/conntrackd.log" in lab.conntrackd and "Syslog off" in lab.conntrackd
    assert f"--log {PATHS.notify_log}" in lab.keepalived
    box = site(pair, STOCK_KERNEL, peer="hub-a", ha=ha_paths(None, "/usr/local/bin/pnsbox"))
    assert "LogFile off" in box.conntrackd and "Syslog on" in box.conntrackd and "--log " not in box.keepalived


def test_the_notify_hook_appends_what_it_did_to_its_log(tmp_path):
    log = tmp_path / "notify.log"
    ha_notify.log("active", [], str(log))
    ha_notify.log("standby", ["conntrackd -n: connection refused"], str(log))
    first, second = log.read_text().splitlines()
    assert first.endswith("active: conntrackd -c, -f, -R, -B: ok")
    assert second.endswith("standby: conntrackd -n: connection refused")
    ha_notify.log("fault", [], str(tmp_path / "gone" / "notify.log"))  # a hub being taken down: nothing made
    assert not (tmp_path / "gone").exists()


def test_applying_makes_the_config_directory_but_never_the_box_run_directory(tmp_path):
    """On the box the units make /run/pnsbox-ha; pnsboxd's sandbox (ProtectSystem=strict) cannot."""
    paths = HAPaths(str(tmp_path / "etc"), str(tmp_path / "run"), "/p")
    apply_ha.execute([], None, paths)
    assert (tmp_path / "etc").is_dir() and not (tmp_path / "run").exists()


def test_the_routes_through_the_moving_links_are_written_for_the_hook_as_apply_adds_them(pair):
    for peer in ("hub-a", "hub-b"):
        kept = kept_routes(site(pair, STOCK_KERNEL, peer=peer, ha=PATHS).keepalived)
        assert kept == [["default", "via", "203.0.113.1", "onlink", "dev", "wan0", "proto", "231"]]
    assert [r.destination for r in render_net(pair, "hub-a").routes] == ["default"]  # nothing left out

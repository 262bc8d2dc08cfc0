"""The systemd units: `systemd-analyze verify` passes, and the promises the issue makes
(notify + watchdog, hardening, the boot unit's plain nft) are in them."""

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "systemd").glob("*.service"))
BIN = ROOT / ".venv" / "bin"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(ROOT / "systemd" / name)
    return parser


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_every_unit_passes_systemd_analyze_verify(tmp_path):
    # The units name the installed paths (make install links the venv into /usr/local/bin);
    # here the same units point at this checkout's venv, so verify can check the commands exist.
    for path in UNITS:
        (tmp_path / path.name).write_text(path.read_text().replace("/usr/local/bin/", f"{BIN}/"))
    proc = subprocess.run(["systemd-analyze", "verify", *[str(tmp_path / p.name) for p in UNITS]],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_the_daemon_unit_notifies_has_a_watchdog_and_is_hardened():
    service = unit("pnsboxd.service")["Service"]
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert set(service["CapabilityBoundingSet"].split()) == {"CAP_NET_ADMIN", "CAP_NET_RAW"}
    assert service["StateDirectory"] == "pnsbox"  # the one writable place, with /run/pnsbox
    assert service["ExecStart"].split()[0].endswith("/pnsboxd")


def test_the_boot_unit_loads_the_confirmed_ruleset_with_plain_nft_before_the_network():
    boot = unit("pnsbox-boot.service")
    assert boot["Service"]["ExecStart"] == "/usr/sbin/nft -f /var/lib/pnsbox/boot.nft"
    assert boot["Service"]["Environment"] == "TZ=UTC"  # the ruleset's hours are UTC
    assert "network-pre.target" in boot["Unit"]["Before"] and boot["Unit"]["DefaultDependencies"] == "no"


def test_the_edge_unit_runs_pnsbox_edge_with_its_state_and_the_tun_device():
    service = unit("pnsbox-edge.service")["Service"]
    assert service["ExecStart"].split()[:3] == ["/usr/local/bin/pnsbox", "edge", "run"]
    assert service["StateDirectory"] == "pnsbox-edge" and service["StateDirectoryMode"] == "0700"
    assert service["DeviceAllow"] == "/dev/net/tun rw" and service["RuntimeDirectory"] == "wireguard"
    assert set(service["CapabilityBoundingSet"].split()) == {"CAP_NET_ADMIN", "CAP_NET_RAW"}
    assert unit("pnsbox-edge.service")["Unit"]["ConditionPathExists"] == "/var/lib/pnsbox-edge/edge.json"


def test_the_daemon_unit_lets_wireguard_go_make_the_hubs_interface():
    service = unit("pnsboxd.service")["Service"]
    assert service["DeviceAllow"] == "/dev/net/tun rw" and service["DevicePolicy"] == "closed"
    assert "wireguard" in service["RuntimeDirectory"].split()


def test_the_ha_units_run_keepalived_and_conntrackd_on_the_files_apply_writes():
    from pnsbox.render.ha import ha_paths

    box = ha_paths(None, "/usr/local/bin/pnsbox")
    keepalived = unit("pnsbox-keepalived.service")["Service"]
    argv = keepalived["ExecStart"].split()
    assert argv[0] == "/usr/sbin/keepalived" and "--dont-fork" in argv
    assert argv[argv.index("-f") + 1] == box.keepalived_conf and argv[argv.index("-p") + 1] == box.keepalived_pid
    assert keepalived["ExecReload"] == "/bin/kill -HUP $MAINPID"  # a reload keeps the VRRP state
    assert "--log-console" not in argv and "--no-syslog" not in argv  # syslog: each line once in the journal
    conntrackd = unit("pnsbox-conntrackd.service")["Service"]
    assert conntrackd["ExecStart"].split() == ["/usr/sbin/conntrackd", "-C", box.conntrackd_conf]
    assert conntrackd["ExecStartPre"] == f"/bin/rm -f {box.conntrackd_lock}"
    for service in (keepalived, conntrackd):  # the run directory outlives either unit (and pnsboxd's /run/pnsbox)
        assert f"/run/{service['RuntimeDirectory']}" == box.run_dir and service["RuntimeDirectoryPreserve"] == "yes"


def test_the_edge_listener_unit_serves_only_the_edge_api_on_its_own_port_without_capabilities():
    service = unit("pnsbox-web-edges.service")["Service"]
    argv = service["ExecStart"].split()
    assert "--edges" in argv and argv[argv.index("--listen") + 1] == "0.0.0.0:8444"
    assert service["CapabilityBoundingSet"] == "" and service["User"] == "pnsbox-web"

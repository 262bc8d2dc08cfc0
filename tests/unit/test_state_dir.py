"""One state directory, one owner, one namespace: pnsboxd locks its directory, an in-process
apply on it is refused naming the daemon's socket, and a directory governs one namespace."""

import subprocess
import sys

import pytest

from pnsbox.daemon.core import Daemon
from pnsbox.daemon.statedir import StateDirBusy, StateDirMismatch


def test_a_second_owner_is_refused_with_the_daemons_socket(tmp_path):
    owner = Daemon(str(tmp_path), netns="pnsbox-a-hub")  # holds the lock while it lives
    owner.claim("pnsboxd", "/run/pnsbox-a/control.sock")
    with pytest.raises(StateDirBusy, match=r"belongs to pnsboxd \(pid \d+\), which listens on "
                                           r"/run/pnsbox-a/control.sock: go through it with --socket"):
        Daemon(str(tmp_path), netns="pnsbox-a-hub").claim("pnsbox apply")


def test_the_lock_ends_with_its_process(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pnsbox.daemon.core import Daemon; "
                               f"Daemon({str(tmp_path)!r}, 'ns1').claim('pnsboxd', '/x.sock'); print('ok', flush=True); "
                               "time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(StateDirBusy, match="/x.sock"):
            Daemon(str(tmp_path), netns="ns1").claim("pnsbox apply")
    finally:
        holder.kill()
        holder.wait()
    Daemon(str(tmp_path), netns="ns1").claim("pnsbox apply")  # free again


def test_a_state_directory_governs_one_namespace(tmp_path):
    first = Daemon(str(tmp_path), netns="pnsbox-demo-hub")
    first.claim("pnsbox apply")
    first._state_lock.release()
    with pytest.raises(StateDirMismatch, match="governs the namespace pnsbox-demo-hub, not pnsbox-other-hub"):
        Daemon(str(tmp_path), netns="pnsbox-other-hub").claim("pnsbox apply")
    with pytest.raises(StateDirMismatch, match="not the host's own"):
        Daemon(str(tmp_path), netns=None).claim("pnsbox apply")

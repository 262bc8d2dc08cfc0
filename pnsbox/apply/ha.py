"""An HA hub's keepalived and conntrackd: their owned files, starting, reloading, stopping them,
and keepalived's notify hook (`pnsbox ha notify`).

In a namespace (a lab's hub, a test's) the daemons run inside it, with every file under
RUN_ROOT/NETNS; on the box itself systemd runs them (systemd/pnsbox-keepalived.service and
pnsbox-conntrackd.service) from /etc/pnsbox/ha.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import KernelError
from ..observe.ha import process_of
from ..plan import Step, StepKind
from ..render.ha import BOX_COMMAND, RUN_ROOT, HAPaths, ha_paths
from ..wording import say
from .netns import in_netns
from .owned import write_atomic

UNITS = {"keepalived": "pnsbox-keepalived.service", "conntrackd": "pnsbox-conntrackd.service"}


def command() -> str:
    """The `pnsbox` executable keepalived's notify hook runs: this installation's own."""
    beside = Path(sys.executable).parent / "pnsbox"
    if beside.is_file():
        return str(beside)
    return shutil.which("pnsbox") or BOX_COMMAND


def paths_for(netns: str | None, run_root: str = RUN_ROOT) -> HAPaths:
    return ha_paths(netns, command(), run_root)


def _run(argv: list[str], netns: str | None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(in_netns(argv, netns), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise KernelError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip() or 'failed'}")
    return proc


def _wait_gone(program: str, conf: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while process_of(program, conf) is not None:
        if time.monotonic() > deadline:
            raise KernelError(say("ha.daemon.not_stopped", program=program, conf=conf, seconds=f"{seconds:g}"))
        time.sleep(0.05)


def _wait_running(program: str, conf: str, seconds: float = 5.0) -> int:
    deadline = time.monotonic() + seconds
    while (pid := process_of(program, conf)) is None:
        if time.monotonic() > deadline:
            raise KernelError(say("ha.daemon.not_started_in", program=program, conf=conf, seconds=f"{seconds:g}"))
        time.sleep(0.05)
    return pid


def _stop(program: str, paths: HAPaths, netns: str | None) -> None:
    conf = paths.keepalived_conf if program == "keepalived" else paths.conntrackd_conf
    if netns is None and shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        _run(["systemctl", "stop", UNITS[program]], None)
        return
    pid = process_of(program, conf)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # keepalived gives its addresses back on the way out
        _wait_gone(program, conf)
    if program == "conntrackd":
        Path(paths.conntrackd_lock).unlink(missing_ok=True)


def _start(program: str, paths: HAPaths, netns: str | None) -> None:
    if netns is None and shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        _run(["systemctl", "start", UNITS[program]], None)
        return
    if program == "keepalived":
        argv = ["keepalived", "--vrrp", "-f", paths.keepalived_conf, "-p", paths.keepalived_pid,
                "-r", paths.vrrp_pid]
        if paths.log_files:
            # keepalived logs only to syslog or its console, and a forking one closes its console: it
            # stays in the foreground of a shell that puts it in the background, its console its log
            argv = ["sh", "-c", 'exec "$@" >>"$0" 2>&1 </dev/null &', paths.keepalived_log, *argv,
                    "--dont-fork", "--log-console", "--no-syslog"]
    else:
        argv = ["conntrackd", "-C", paths.conntrackd_conf, "-d"]  # logs where conntrackd.conf says
    _run(argv, netns)  # each goes into the background (forks itself, or the shell puts it there)
    conf = paths.keepalived_conf if program == "keepalived" else paths.conntrackd_conf
    try:
        _wait_running(program, conf)
    except KernelError as error:
        log = paths.keepalived_log if program == "keepalived" else paths.conntrackd_log
        tail = (_text_tail(log) if paths.log_files else "") or say("ha.daemon.see_log")
        raise KernelError(say("ha.daemon.not_started", program=program, conf=conf, tail=tail)) from error


def _text_tail(path: str, lines: int = 5) -> str:
    try:
        return " | ".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _reload_keepalived(paths: HAPaths, netns: str | None) -> None:
    if netns is None and shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        _run(["systemctl", "reload-or-restart", UNITS["keepalived"]], None)
        return
    pid = process_of("keepalived", paths.keepalived_conf)
    if pid is None:
        _start("keepalived", paths, netns)
    else:
        os.kill(pid, signal.SIGHUP)  # re-reads its config; VRRP state and addresses stay


def execute(steps: list[Step], netns: str | None, paths: HAPaths) -> None:
    """Carry out plan_ha's steps."""
    # Only the config directory: the box's run directory is the units' (RuntimeDirectory), and
    # pnsboxd's sandbox (ProtectSystem=strict) could not make it; a namespace's is the same one.
    Path(paths.config_dir).mkdir(parents=True, exist_ok=True)
    for step in steps:
        if step.kind is StepKind.HA_CONNTRACKD:
            write_atomic(Path(paths.conntrackd_conf), step.args[0])
            _stop("conntrackd", paths, netns)  # conntrackd cannot re-read its config: restarted
            _start("conntrackd", paths, netns)
        elif step.kind is StepKind.HA_KEEPALIVED:
            write_atomic(Path(paths.links_script), step.args[1])
            os.chmod(paths.links_script, 0o755)  # keepalived runs it (root's alone to change: script security)
            write_atomic(Path(paths.keepalived_conf), step.args[0])
            _reload_keepalived(paths, netns)
        elif step.kind is StepKind.HA_STOP:
            _stop(step.args[0], paths, netns)
        else:
            raise ValueError(f"not an HA step: {step.kind}")


def stop_all(netns: str, run_root: str = RUN_ROOT) -> None:
    """A hub namespace going away: its keepalived and conntrackd stop, its files go."""
    paths = paths_for(netns, run_root)
    for program in ("keepalived", "conntrackd"):
        with contextlib.suppress(KernelError):
            _stop(program, paths, netns)
    forget(netns, run_root)


def forget(netns: str, run_root: str = RUN_ROOT) -> None:
    """The files of a namespace's keepalived and conntrackd, once they are gone (lab down kills
    every process of a namespace before deleting it)."""
    shutil.rmtree(ha_paths(netns, "", run_root).run_dir, ignore_errors=True)

"""What the benchmarks share: running tools, namespaces they make and remove, the machine."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
from pathlib import Path

MAIN_PID = os.getpid()


def sh(argv: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])}{' ...' if len(argv) > 6 else ''}: "
                           f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def in_ns(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def ip_batch(ns: str, commands: list[str]) -> None:
    if commands:
        sh(["ip", "-n", ns, "-batch", "-"], stdin="\n".join(commands) + "\n")


class Namespaces:
    """Creates `pnsbench-<pid>-<name>` namespaces (never touching the host's) and removes
    every one of them on close()."""

    def __init__(self):
        self.owner = os.getpid()
        self.prefix = f"pnsbench-{self.owner}-"
        self.made: list[str] = []

    def add(self, name: str) -> str:
        ns = self.prefix + name
        sh(["ip", "netns", "add", ns])
        self.made.append(ns)
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        return ns

    def remove(self, ns: str) -> None:
        if ns in self.made:
            sh(["ip", "netns", "del", ns], check=False)
            self.made.remove(ns)

    def close(self) -> None:
        if os.getpid() != self.owner:  # a forked child owns nothing
            return
        for ns in reversed(list(self.made)):
            self.remove(ns)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, Python {platform.python_version()}"


def code_version() -> str:
    """Which pnsbox this measures: its directory, and its git commit when it is a checkout."""
    import pnsbox

    where = Path(pnsbox.__file__).resolve().parent
    head = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    if head.returncode != 0:
        return f"{where} (not a git checkout)"
    dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--", "."],
                           capture_output=True, text=True).stdout.strip()
    return f"{where} at commit {head.stdout.strip()}{' with uncommitted changes' if dirty else ''}"


def unwind_on_sigterm() -> None:
    """SIGTERM unwinds the benchmark, so its namespaces are still removed; a forked child
    that inherited the handler just dies."""

    def handler(signum, frame):
        if os.getpid() != MAIN_PID:
            os._exit(143)
        sys.exit(143)

    signal.signal(signal.SIGTERM, handler)

"""Running kernel tools in a chosen network namespace (or the box's own)."""

from __future__ import annotations

import os
import subprocess


class KernelError(Exception):
    """A kernel tool refused a change; the message names what in the config caused it."""


def in_netns(argv: list[str], netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


def run(argv: list[str], netns: str | None = None, stdin: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    """Run a tool; nft always with TZ=UTC so `meta hour` means what render meant."""
    env = dict(os.environ, TZ="UTC", LC_ALL="C")
    proc = subprocess.run(in_netns(argv, netns), input=stdin, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise KernelError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def netns_exists(netns: str | None) -> bool:
    return netns is None or os.path.exists(f"/run/netns/{netns}")

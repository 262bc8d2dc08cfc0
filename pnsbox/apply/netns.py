"""Running kernel tools in a chosen network namespace (or the box's own)."""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading

from ..errors import KernelError

CLONE_NEWNET = 0x40000000



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


def made_in(netns: str | None, make):
    """Call `make()` in a short-lived thread that entered /run/netns/NETNS, so that the
    sockets (and /proc/thread-self files) it opens live there, while every other thread of
    this process stays put: a socket keeps the namespace it was made in."""
    if netns is None:
        return make()
    made: dict = {}

    def enter_and_make():
        try:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {netns}")
            finally:
                os.close(fd)
            made["value"] = make()
        except BaseException as exc:  # handed to the caller's thread
            made["error"] = exc

    worker = threading.Thread(target=enter_and_make, name=f"netns-{netns}")
    worker.start()
    worker.join()
    if "error" in made:
        raise made["error"]
    return made["value"]


def socket_in(netns: str | None, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket living in `netns` (see made_in)."""
    return made_in(netns, lambda: socket.socket(family, kind, proto))

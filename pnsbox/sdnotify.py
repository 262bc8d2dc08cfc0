"""sd_notify without a library: one datagram to $NOTIFY_SOCKET, if systemd gave one."""

from __future__ import annotations

import os
import socket


def notify(message: str) -> None:
    """READY=1 once serving, WATCHDOG=1 while alive (Type=notify units with WatchdogSec)."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    address = "\0" + path[1:] if path.startswith("@") else path  # an abstract socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), address)

"""WireGuard interfaces in the kernel, or in Debian's wireguard-go where the kernel has none.

One tool, wg(8), configures both: it speaks netlink to the kernel module and the control
socket (/var/run/wireguard/NAME.sock) to wireguard-go. That socket is named by interface
alone and shared by every namespace, so wireguard-go is started under a name unique to its
namespace and its link renamed to the interface's (observe.wg.userspace_handle): two
namespaces (two labs, a lab and a test) may both run `pnsbox-wg`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import time

from ..observe import wg as observe_wg
from ..observe.wg import control_name, socket_path, userspace_handle
from ..render.wg import WgInterface, syncconf_text
from .netns import KernelError, run

DISCARD_PORT = 9  # the datagram that asks for a handshake goes here: nobody answers it

KERNEL, USERSPACE = "kernel", "wireguard-go"
PROBE_DEVICE = "pnsbox-wgprobe"
__all__ = ["KERNEL", "USERSPACE", "backend", "control_name", "differs", "ensure", "remove", "socket_path", "sync",
           "userspace_handle", "userspace_pids"]


@functools.lru_cache(maxsize=64)
def backend(netns: str | None) -> str | None:
    """'kernel' when the kernel makes WireGuard links, else 'wireguard-go' when it is installed."""
    if run(["ip", "link", "add", "dev", PROBE_DEVICE, "type", "wireguard"], netns, check=False).returncode == 0:
        run(["ip", "link", "del", "dev", PROBE_DEVICE], netns, check=False)
        return KERNEL
    return USERSPACE if shutil.which("wireguard-go") else None


def _socket_alive(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _link_exists(netns: str | None, name: str) -> bool:
    return run(["ip", "link", "show", "dev", name], netns, check=False).returncode == 0


def ensure(netns: str | None, name: str, kind: str | None = None) -> bool:
    """Make the interface NAME unless it exists; True when it was made."""
    if _link_exists(netns, name):
        return False
    kind = kind or backend(netns)
    if kind == KERNEL:
        run(["ip", "link", "add", "dev", name, "type", "wireguard"], netns)
        return True
    if kind != USERSPACE:
        raise KernelError(f"{name}: this kernel has no WireGuard and wireguard-go is not installed")
    handle = userspace_handle(netns, name)
    if not _link_exists(netns, handle):
        _start_userspace(netns, handle)
    # The device is down until the caller brings it up, so it may still be renamed.
    run(["ip", "link", "set", "dev", handle, "name", name], netns)
    return True


def _start_userspace(netns: str | None, handle: str) -> None:
    for pid in userspace_pids(netns, handle):  # one whose device went: it would hold the socket
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    path = socket_path(handle)
    for _ in range(100):
        if not os.path.exists(path) or not _socket_alive(path):
            break
        time.sleep(0.01)
    if os.path.exists(path):
        os.unlink(path)  # left by a wireguard-go that was killed
    # Without -f it forks a child that holds the tun device and the socket, and returns once both exist.
    run(["wireguard-go", handle], netns)
    # The socket exists before the forked child has taken over the device; renaming it before
    # the child answers on the socket loses a race (it looks its device up by name and exits).
    for _ in range(300):
        if _answers(path):
            return
        time.sleep(0.01)
    raise KernelError(f"{handle}: wireguard-go started but its control socket {path} never answered")


def _answers(path: str) -> bool:
    """True when wireguard-go's device answers a `get` on its control socket."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1)
    try:
        probe.connect(path)
        probe.sendall(b"get=1\n\n")
        seen = b""
        while b"errno=" not in seen:
            chunk = probe.recv(4096)
            if not chunk:
                return False
            seen += chunk
        return b"errno=0" in seen
    except OSError:
        return False
    finally:
        probe.close()


def userspace_pids(netns: str | None, name: str) -> list[int]:
    """The wireguard-go processes serving NAME in NETNS (started under its handle, or NAME itself)."""
    target = os.stat(f"/run/netns/{netns}" if netns else "/proc/self/ns/net").st_ino
    started = {name.encode(), userspace_handle(netns, name).encode()}
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            if (len(argv) >= 2 and os.path.basename(argv[0]) == b"wireguard-go" and argv[-1] == b"" and argv[-2] in started
                    and os.stat(f"/proc/{entry}/ns/net").st_ino == target):
                pids.append(int(entry))
        except OSError:  # gone meanwhile, or a kernel thread
            continue
    return pids


def remove(netns: str | None, name: str) -> None:
    """Delete the interface, and stop the wireguard-go serving it (it outlives its device)."""
    handle = userspace_handle(netns, name)
    pids = userspace_pids(netns, name)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    if _link_exists(netns, name):
        run(["ip", "link", "del", "dev", name], netns, check=False)
    for _ in range(200):  # it removes its socket as it exits
        if not any(_running(pid) for pid in pids):
            break
        time.sleep(0.01)
    for path in (socket_path(name), socket_path(handle)):
        if pids and os.path.exists(path) and not _socket_alive(path):
            os.unlink(path)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False


def differs(desired: WgInterface, running: observe_wg.InterfaceState | None) -> bool:
    if running is None:
        return True
    if (running.private_key, running.listen_port) != (desired.private_key, desired.listen_port or running.listen_port):
        return True
    want = {p.public_key: p.normalized() for p in desired.peers}
    have = {k: _running_peer(p, want.get(k)) for k, p in running.peers.items()}
    return want != have


def _running_peer(state: observe_wg.PeerState, wanted: tuple | None) -> tuple:
    # A peer without a configured endpoint shows the one it was last heard from: not a difference.
    endpoint = state.endpoint if wanted is None or wanted[2] is not None else None
    return (state.public_key, frozenset(state.allowed_ips), endpoint, state.keepalive)


def sync(netns: str | None, desired: WgInterface) -> bool:
    """Make the interface run exactly `desired` (its key, port and peers; others removed), like
    `wg syncconf`; nothing is written when it already does. True when something changed."""
    if not _link_exists(netns, desired.name):
        raise KernelError(f"{desired.name}: no such interface (ensure it first)")
    if not differs(desired, observe_wg.read(netns, desired.name)):
        return False
    # The private key goes over a pipe, never onto a command line or into a file.
    run(["wg", "syncconf", control_name(netns, desired.name), "/dev/stdin"], netns, stdin=syncconf_text(desired))
    return True


def fresh_peers(netns: str | None, name: str, endpoints: dict[str, str]) -> int:
    """Each peer removed and put back as it was, with the endpoint given for it (public key ->
    ADDRESS:PORT): an HA hub that just became active, with the endpoints its peer heard the
    edges at. Put back anew, a peer forgets its failed handshake attempts (made while this hub
    was standby, with nowhere to send them), which would hold a new one back for up to 5 s.
    Returns how many peers were put back."""
    state, done = observe_wg.read(netns, name), 0
    handle = control_name(netns, name)
    for key, peer in (state.peers.items() if state else ()):
        argv = ["wg", "set", handle, "peer", key, "allowed-ips", ",".join(peer.allowed_ips)]
        argv += ["persistent-keepalive", str(peer.keepalive)] if peer.keepalive else []
        endpoint = endpoints.get(key) or peer.endpoint  # the peer's word, else what this one had (a static one)
        argv += ["endpoint", endpoint] if endpoint else []
        run(["wg", "set", handle, "peer", key, "remove"], netns, check=False)
        run(argv, netns, check=False)
        done += 1
    return done


def ask_handshakes(netns: str | None, addresses: list[str]) -> int:
    """One datagram from NETNS to each address (edges' tunnel addresses): WireGuard has something
    to send to each peer and, holding no session with it, shakes hands now. Returns how many went."""
    from .netns import socket_in

    sent = 0
    sock = socket_in(netns, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for address in addresses:
            with contextlib.suppress(OSError):  # no route yet: the next try
                sock.sendto(b"pnsbox", (address, DISCARD_PORT))
                sent += 1
    finally:
        sock.close()
    return sent

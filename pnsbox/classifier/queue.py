"""NFQUEUE glue: bind one kernel queue (in the host or in a network namespace), make it
fail open, and run it until asked to stop.

netfilterqueue binds the queue; the rest it does not expose, so this module speaks the
nfnetlink_queue config message itself, on the queue's own netlink socket (the kernel takes a
queue's config only from the socket that owns it):

- NFQA_CFG_F_FAIL_OPEN: when the process cannot take a packet (its socket buffer is full, or
  the queue is at its length limit) the kernel accepts the packet instead of dropping it.
- the queue length: effectively unbounded, so that the socket receive buffer is the bound.
  A packet that does not fit in it still takes a packet id, so the gaps in the ids the
  process sees count exactly what passed unclassified while it was behind.
- on stop, a queue length of 0 first: every new packet passes at once (fail-open) while the
  process answers what it already holds; only then unbind, which would drop held packets.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import time
import warnings

from netfilterqueue import NetfilterQueue

from ..apply.netns import made_in
from ..observe.classifier import parse_queues

QUEUE_MAXLEN = 1 << 20          # never the bound: the receive buffer is (see above)
RCVBUF = 8 << 20                # bytes; ~10,000 queued small packets, ~0.1 s of work
COPY_RANGE = 4016               # what netfilterqueue can receive; beyond an Ethernet MTU
PROC_QUEUES = "net/netfilter/nfnetlink_queue"

# linux/netfilter/nfnetlink.h, nfnetlink_queue.h, netlink.h
_NFNL_SUBSYS_QUEUE = 3
_NFQNL_MSG_CONFIG = 2
_NFQA_CFG_QUEUE_MAXLEN, _NFQA_CFG_MASK, _NFQA_CFG_FLAGS = 3, 4, 5
NFQA_CFG_F_FAIL_OPEN = 0x1
_NLM_F_REQUEST, _NLM_F_ACK = 0x1, 0x4
_NLMSG_ERROR = 2
_NLMSG_HEADER = struct.Struct("=IHHII")
_NFGENMSG = struct.Struct("=BBH")   # family, version, res_id (the queue number, big-endian)


def config_message(queue_num: int, seq: int, maxlen: int | None = None,
                   flags: int | None = None, ack: bool = True) -> bytes:
    """An NFQNL_MSG_CONFIG request for one queue; `flags` are set, the others left alone."""
    attrs = b""
    if maxlen is not None:
        attrs += _attr_u32(_NFQA_CFG_QUEUE_MAXLEN, maxlen)
    if flags is not None:
        attrs += _attr_u32(_NFQA_CFG_MASK, flags)
        attrs += _attr_u32(_NFQA_CFG_FLAGS, flags)
    body = _NFGENMSG.pack(socket.AF_UNSPEC, 0, socket.htons(queue_num)) + attrs
    kind = (_NFNL_SUBSYS_QUEUE << 8) | _NFQNL_MSG_CONFIG
    request = _NLM_F_REQUEST | (_NLM_F_ACK if ack else 0)
    return _NLMSG_HEADER.pack(_NLMSG_HEADER.size + len(body), kind, request, seq, 0) + body


def _attr_u32(kind: int, value: int) -> bytes:
    return struct.pack("=HH", 8, kind) + struct.pack("!I", value)


def ack_of(message: bytes, seq: int) -> int | None:
    """The error code (0: accepted) if `message` is the kernel's answer to request `seq`."""
    if len(message) < _NLMSG_HEADER.size + 4:
        return None
    _length, kind, _flags, answer_seq, _pid = _NLMSG_HEADER.unpack_from(message)
    if kind != _NLMSG_ERROR or answer_seq != seq:
        return None
    return -struct.unpack_from("=i", message, _NLMSG_HEADER.size)[0]


def open_proc_queues(netns: str | None):
    """/proc/net/netfilter/nfnetlink_queue of NETNS, kept open: the file shows the namespace
    of the thread that opened it, whichever thread reads it later."""
    return made_in(netns, lambda: open(f"/proc/thread-self/{PROC_QUEUES}", "rb", buffering=0))


def read_queue_stats(proc) -> dict[int, dict[str, int]]:
    """queue number -> the kernel's counters for it (from an open_proc_queues file)."""
    proc.seek(0)
    return parse_queues(proc.read().decode())


class Queue:
    """One bound NFQUEUE. `callback(packet)` must give every packet a verdict and never raise."""

    def __init__(self, num: int, callback, netns: str | None = None, rcvbuf: int = RCVBUF):
        self.num = num
        self.fail_open = False
        self._stopping = False
        self._seq = 0

        def bind():
            nfq = NetfilterQueue()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # we check the size below
                nfq.bind(num, callback, max_len=QUEUE_MAXLEN, range=COPY_RANGE, sock_len=rcvbuf // 2)
            return nfq

        self.nfq = made_in(netns, bind)
        self.proc = open_proc_queues(netns)
        # a second handle on the same socket (same netlink port id) for our config messages
        self.sock = socket.socket(fileno=os.dup(self.nfq.get_fd()))
        self.rcvbuf = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self.fail_open = self._configure(maxlen=QUEUE_MAXLEN, flags=NFQA_CFG_F_FAIL_OPEN)

    def _configure(self, maxlen: int | None = None, flags: int | None = None, wait: float = 1.0) -> bool:
        """Send a config message; True if the kernel acknowledged it. The answer is read only
        while it is the next message on the socket: queued packets are netfilterqueue's to
        read, and it ignores acknowledgements."""
        self._seq += 1
        self.sock.send(config_message(self.num, self._seq, maxlen, flags, ack=bool(wait)))
        if not wait:
            return False
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        if not poller.poll(int(wait * 1000)):
            return False
        head = self.sock.recv(65536, socket.MSG_PEEK)
        error = ack_of(head, self._seq)
        if error is None:
            return False
        self.sock.recv(65536)  # consume the acknowledgement
        if error:
            raise OSError(error, f"queue {self.num}: the kernel refused its config")
        return True

    def stop_intake(self) -> None:
        """Let every new packet pass unqueued from now on (safe in a signal handler)."""
        if not self._stopping:
            self._stopping = True
            self._configure(maxlen=0, wait=0)

    def run(self, tick=None, tick_seconds: float = 1.0) -> None:
        """Answer packets until stop_intake() (from a signal handler or `tick`), then drain
        what the socket holds and unbind. `tick()` runs at least every `tick_seconds`."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        previous = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        poller = select.poll()
        poller.register(self.nfq.get_fd(), select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        try:
            while not self._stopping:
                for fd, _ in poller.poll(int(tick_seconds * 1000)):
                    if fd == wake_r:
                        os.read(wake_r, 512)
                self.nfq.run(block=False)  # every packet the socket holds, then back here
                if tick is not None:
                    tick()
            self._drain()
        finally:
            signal.set_wakeup_fd(previous)
            os.close(wake_r)
            os.close(wake_w)
            self.close()

    def _drain(self, seconds: float = 1.0) -> None:
        """Answer what the kernel still holds for us: unbinding would drop it."""
        deadline = time.monotonic() + seconds
        while True:
            self.nfq.run(block=False)
            if self.stats().get("backlog", 0) == 0 or time.monotonic() > deadline:
                return
            time.sleep(0.005)

    def stats(self) -> dict[str, int]:
        """The kernel's counters for this queue (empty once closed)."""
        try:
            return read_queue_stats(self.proc).get(self.num, {})
        except (OSError, ValueError):  # closed, maybe by another thread
            return {}

    def close(self) -> None:
        self.nfq.unbind()
        self.sock.close()
        self.proc.close()

"""The flow table: per-flow inspection state under a fixed maximum number of flows.

Keys are direction-normalised 5-tuples, so both directions of a connection find one entry.
When the table is full the least recently seen flow is dropped: a flood of new flows costs
old, idle entries (which the kernel has marked long ago), never unbounded memory.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from .expect import Expected
from .quic import ClientInitials
from .verdict import Verdict

FlowKey = tuple  # (ip protocol, lower address, its port, higher address, its port)


def flow_key(proto: int, src: bytes, sport: int, dst: bytes, dport: int) -> FlowKey:
    if src < dst or (src == dst and sport <= dport):
        return proto, src, sport, dst, dport
    return proto, dst, dport, src, sport


class Flow:
    """Inspection state of one flow; once `verdict` is set the rest is dropped."""

    __slots__ = ("verdict", "packets", "client", "client_port", "pending", "pending_name",
                 "stream", "stream_from_client", "next_seq", "quic", "questions", "probe",
                 "expected", "watch")

    # Every attribute is typed: the compiled build (native.py) checks these types at run time.
    def __init__(self, client: bytes, client_port: int) -> None:
        self.verdict: Verdict | None = None
        self.packets = 0
        self.client = client              # the side that opened the flow
        self.client_port = client_port
        self.pending: str | None = None   # a protocol recognised without a deciding name yet
        self.pending_name: str | None = None
        self.stream: bytearray | None = None  # TCP bytes of one side, while a message is incomplete
        # stream_from_client and next_seq go with the stream (read only while there is one)
        self.stream_from_client = False
        self.next_seq = 0
        self.quic: ClientInitials | None = None  # while a QUIC hello is read
        self.questions = 0                # DNS questions not answered yet
        self.probe: tuple[str, Any, bool] | None = None  # (kind, value, from_client) of a two-packet rule
        self.expected: Expected | None = None  # an announced media endpoint
        self.watch = 0                    # packets of a decided FTP control flow still read

    def done(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.stream = None
        self.quic = None


class FlowTable:
    def __init__(self, max_flows: int = 65536) -> None:
        if max_flows < 1:
            raise ValueError("max_flows must be at least 1")
        self.max_flows = max_flows
        self.evicted = 0
        self._flows: OrderedDict[FlowKey, Flow] = OrderedDict()

    def get(self, key: FlowKey) -> Flow | None:
        flow = self._flows.get(key)
        if flow is not None:
            self._flows.move_to_end(key)
        return flow

    def add(self, key: FlowKey, flow: Flow) -> None:
        self._flows[key] = flow
        if len(self._flows) > self.max_flows:
            self._flows.popitem(last=False)
            self.evicted += 1

    def items(self):
        return self._flows.items()

    def __len__(self) -> int:
        return len(self._flows)

"""What DNS answers taught: address -> the name a client asked for.

A flow that carries no name of its own (QUIC short headers, TLS without SNI, a protocol we do
not parse) is often to an address the same network just resolved. Bounded: the least
recently learned addresses go first; an answer is believed for its TTL, within limits.
"""

from __future__ import annotations

from collections import OrderedDict

MIN_TTL = 60          # short TTLs (CDNs) still cover the connection that follows the lookup
MAX_TTL = 24 * 3600


class NameMemory:
    def __init__(self, max_entries: int = 65536):
        self.max_entries = max_entries
        self._names: OrderedDict[bytes, tuple[str, float]] = OrderedDict()

    def learn(self, address: bytes, name: str, ttl: int, now: float) -> None:
        if not name:
            return
        names = self._names
        names[address] = (name, now + min(max(ttl, MIN_TTL), MAX_TTL))
        names.move_to_end(address)
        if len(names) > self.max_entries:
            names.popitem(last=False)

    def name_of(self, address: bytes, now: float) -> str | None:
        entry = self._names.get(address)
        if entry is None:
            return None
        if entry[1] < now:
            del self._names[address]
            return None
        return entry[0]

    def __len__(self) -> int:
        return len(self._names)

"""What DNS answers taught, shared by every worker of pnsbox-classifier.

With `--queues N` the kernel hashes each flow to one of N worker processes: the DNS answer
for a name may reach one worker while the connection to the answered address reaches
another. This table lives in one shared anonymous mapping made before the workers fork, so
an answer any worker learns names the flows of all of them.

Bounded and lock-free: 4-way set-associative buckets of fixed 128-byte slots (address,
name up to 100 bytes, expiry in whole seconds of the monotonic clock every process shares),
a new entry replacing the expired or soonest-expiring slot of its bucket. A writer copies a
whole slot in one memcpy; a reader copies it out and checks its CRC-32, so a slot caught
half-written reads as absent rather than wrong. Same interface as NameMemory.
"""

from __future__ import annotations

import mmap
import zlib
from struct import Struct

from .names import MAX_TTL, MIN_TTL

SLOT = 128
WAYS = 4
_HEAD = Struct("<IIBB16s")   # crc, expiry, address length, name length, address
_NAME_AT = _HEAD.size        # 26
MAX_NAME = SLOT - _NAME_AT


class SharedNames:
    def __init__(self, buffer, slots: int):
        if slots < WAYS or slots & (slots - 1):
            raise ValueError("slots must be a power of two, at least 4")
        self._map = buffer
        self._buckets = slots // WAYS
        self.max_entries = slots
        self._filled = 0   # empty slots this process filled: summed over workers, the table's count

    @classmethod
    def create(cls, slots: int = 131072) -> SharedNames:
        """A zeroed shared mapping (16 MB: about 65,000 addresses with few evictions); make it
        before forking."""
        return cls(mmap.mmap(-1, slots * SLOT), slots)

    def _bucket(self, address: bytes) -> int:
        return (zlib.crc32(address) % self._buckets) * WAYS * SLOT

    def learn(self, address: bytes, name: str, ttl: int, now: float) -> None:
        raw = name.encode("ascii", "replace")
        if not raw or len(raw) > MAX_NAME or len(address) > 16:
            return
        until = int(now + min(max(ttl, MIN_TTL), MAX_TTL)) + 1
        body = _HEAD.pack(0, until, len(address), len(raw), address)[4:] + raw
        body += bytes(SLOT - 4 - len(body))
        slot = zlib.crc32(body).to_bytes(4, "little") + body
        mapping, start = self._map, self._bucket(address)
        victim, soonest, empty = start, None, False
        for offset in range(start, start + WAYS * SLOT, SLOT):
            crc, expiry, size, _, stored = _HEAD.unpack_from(mapping, offset)
            if size == len(address) and stored[:size] == address:
                victim, empty = offset, False
                break
            if soonest is None or expiry < soonest:
                victim, soonest, empty = offset, expiry, size == 0
        mapping[victim:victim + SLOT] = slot
        self._filled += empty

    def name_of(self, address: bytes, now: float) -> str | None:
        mapping, start = self._map, self._bucket(address)
        for offset in range(start, start + WAYS * SLOT, SLOT):
            slot = mapping[offset:offset + SLOT]
            crc, expiry, size, length, stored = _HEAD.unpack_from(slot)
            if size != len(address) or stored[:size] != address:
                continue
            if crc != zlib.crc32(slot[4:]) or expiry < now or not length:
                return None
            return slot[_NAME_AT:_NAME_AT + length].decode("ascii")
        return None

    def __len__(self) -> int:
        return self._filled

    def count(self) -> int:
        """Every stored entry, expired or not (a scan of the whole table: for tests)."""
        return sum(1 for offset in range(0, len(self._map), SLOT) if _HEAD.unpack_from(self._map, offset)[2])

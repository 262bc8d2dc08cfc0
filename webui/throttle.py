"""Login rate limiting. Failed sign-ins are counted per address and per (address, user name):
too many within a window and that key waits until its oldest failure leaves the window.

Nothing is counted per user name alone, so nobody elsewhere can lock an account (the admin's
included) by guessing at it: an attacker locks only their own address, and every further try
while locked costs them the full wait again. Memory is bounded: at most `max_keys` keys, each
with at most `attempts` timestamps; the key touched longest ago goes first (an attacker's own
address is touched at every try, so making up names cannot push it out)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

MAX_KEY = 100  # characters of a key kept (user names are at most 32; the rest is an address)


class LoginThrottle:
    def __init__(self, attempts: int, window: float, address_attempts: int | None = None, clock=time.monotonic,
                 max_keys: int = 10_000):
        self.attempts = attempts  # per (address, user name)
        self.address_attempts = address_attempts or 4 * attempts  # per address, whatever the names
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, create: bool = False) -> deque:
        key = key[:MAX_KEY]
        failures = self._failures.get(key)
        if failures is None:
            if not create:
                return deque()
            failures = self._failures[key] = deque(maxlen=self._limit(key))
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
        self._failures.move_to_end(key)
        horizon = self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def _limit(self, key: str) -> int:
        return self.address_attempts if key.startswith("a ") else self.attempts

    @staticmethod
    def _keys(address: str, user: str) -> tuple[str, str]:
        return f"a {address}", f"u {address} {user}"

    def wait_seconds(self, address: str, user: str) -> int:
        """0 if USER may try to sign in from ADDRESS now, else how long to wait."""
        with self._lock:
            waits = [failures[0] + self.window - self.clock()
                     for key in self._keys(address, user)
                     if len(failures := self._recent(key)) >= self._limit(key)]
        return int(max(waits) + 1) if waits else 0

    def failed(self, address: str, user: str) -> bool:
        """Count a failure; True when it just locked the address or the (address, user) pair."""
        locked = False
        with self._lock:
            for key in self._keys(address, user):
                failures = self._recent(key, create=True)
                failures.append(self.clock())
                locked |= len(failures) >= self._limit(key)
        return locked

    def succeeded(self, address: str, user: str) -> None:
        """A right password clears that user's count from that address (not the address's own)."""
        with self._lock:
            self._failures.pop(self._keys(address, user)[1][:MAX_KEY], None)

    def __len__(self) -> int:
        return len(self._failures)

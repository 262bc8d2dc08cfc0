"""Login rate limiting: too many failed logins from one address, or for one user name, within
a window, and further attempts are refused until the oldest failure leaves the window."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class LoginThrottle:
    def __init__(self, attempts: int, window: float, clock=time.monotonic):
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque:
        failures, horizon = self._failures[key], self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def wait_seconds(self, *keys: str) -> int:
        """0 if a login may be tried now, else how long to wait."""
        with self._lock:
            waits = [self._recent(k)[0] + self.window - self.clock() for k in keys
                     if len(self._recent(k)) >= self.attempts]
        return int(max(waits) + 1) if waits else 0

    def failed(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._recent(key).append(self.clock())

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

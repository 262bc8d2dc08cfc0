"""pnsboxd's heap and the garbage collector.

A long-lived pnsboxd keeps the running config of 1,000 OPDs, its parsed pieces and its render:
about a million objects that live until the next change. Python's full collections walk
them all (45-90 ms each at 1,000 OPDs, measured), and one or two fell inside most rate
changes. After each change what lives is set aside (gc.freeze), so later collections walk
only what is new. Set-aside objects that die in a cycle are not freed until they are walked
again, which happens every REWALK_SECONDS (unfreeze, collect, freeze: one full walk).
"""

from __future__ import annotations

import gc
import threading
import time

REWALK_SECONDS = 3600.0


class Heap:
    def __init__(self):
        self._lock = threading.Lock()
        self._walked = time.monotonic()

    def settle(self) -> None:
        """After a change (once its answer is sent): collect what is new, set the rest aside."""
        with self._lock:
            if time.monotonic() - self._walked >= REWALK_SECONDS:
                gc.unfreeze()
                self._walked = time.monotonic()
            gc.collect()
            gc.freeze()

"""pnsboxd's heap and the garbage collector.

A long-lived pnsboxd keeps the running config of 1,000 OPDs, its parsed pieces and its render:
about a million objects that live until the next change. Python's full collections walk
them all (45-90 ms each at 1,000 OPDs, measured), and one or two fell inside most rate
changes. After each change what lives is set aside (gc.freeze), so later collections walk
only what is new. Before that only the young generations are collected (the full walk would
make the next command wait: an unchanged re-apply right after a first apply took 30 ms longer).
Objects that die in a cycle after they reached the old generation or were set aside are freed
when everything is walked again, every REWALK_SECONDS (unfreeze, collect, freeze).
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
        """After a change (once its answer is sent): collect the young, set the rest aside."""
        with self._lock:
            if time.monotonic() - self._walked >= REWALK_SECONDS:
                gc.unfreeze()
                gc.collect()
                self._walked = time.monotonic()
            else:
                gc.collect(1)
            gc.freeze()

"""One queue worker: the engine behind one NFQUEUE, in a process of its own.

Every packet is accepted, whatever happens; a packet of a flow with a verdict leaves with
the verdict's mark, which the nft rules copy into the conntrack mark (so the kernel stops
queueing the flow) and match for policy and shaping.

A flow always hashes to the same queue, so each worker sees whole flows. The names DNS
answers taught are shared (shared_names.py): an answer one worker saw names the flows of all.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time

from .engine import Engine
from .lists import open_lists
from .metrics import Counts
from .queue import Queue

REPORT_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1


class Classifier:
    """The netfilterqueue callback: classify, mark, accept, count."""

    def __init__(self, engine: Engine, queue: int):
        self.engine = engine
        self.table = engine.flows
        self.counts = Counts(queue)
        # flows without a verdict yet -> [first seen, bytes so far]; bounded like the table
        self._pending: dict[tuple, list] = {}

    def __call__(self, packet) -> None:
        start = time.perf_counter()
        counts = self.counts
        try:
            data = packet.get_payload()
            counts.packets += 1
            counts.alive_at = start
            ident = packet.id
            if ident > counts.last_id + 1:
                counts.overflow += ident - counts.last_id - 1
            counts.last_id = ident
            verdict = self._classify(data, start)
            if verdict is not None:
                packet.set_mark(verdict.mark)
        except Exception:  # a bug here must not stop traffic: count it, accept the packet
            counts.errors += 1
        packet.accept()
        counts.packet_time.observe(time.perf_counter() - start)

    def _classify(self, data: bytes, now: float):
        engine, table, pending = self.engine, self.table, self._pending
        flows_before = engine.stats.flows
        verdict = engine.packet(data, now)
        key = engine.last_key  # (the engine's own: no second parse)
        if key is None:
            return verdict  # not a packet the engine can key
        if verdict is None:
            entry = pending.get(key)
            if entry is None:
                pending[key] = [now, len(data)]
                if len(pending) > table.max_flows:
                    del pending[next(iter(pending))]  # the oldest: gone from the engine too
            else:
                entry[1] += len(data)
            return None
        app = (verdict.app, verdict.category)
        size = len(data)
        entry = pending.pop(key, None)
        if entry is not None or engine.stats.flows != flows_before:  # decided by this packet
            counts = self.counts
            counts.flows[app] = counts.flows.get(app, 0) + 1
            if entry is not None:
                counts.latency.observe(now - entry[0])
                size += entry[1]
            else:
                counts.latency.observe(0.0)
        bytes_ = self.counts.bytes
        bytes_[app] = bytes_.get(app, 0) + size
        return verdict

    def snapshot(self, kernel: dict | None = None) -> dict:
        """Counts for metrics. With the kernel's counters for the queue (`Queue.stats()`),
        the overflow includes the packets after the last one received that the socket could
        not take: no later packet id has revealed them as a gap yet."""
        snap = self.counts.snapshot(self.engine)
        if kernel:
            unseen = kernel["id_sequence"] - self.counts.last_id - kernel["backlog"]
            snap["overflow"] += max(0, unseen)
        return snap


def run_worker(conn, num: int, netns: str | None, catalog, max_flows: int, inspect_limit: int,
               parent: int, lists=None, names=None) -> None:
    """A worker process: bind queue NUM, report ("bound", ...) then a snapshot every second
    over CONN, and on SIGTERM/SIGINT stop taking packets, answer the held ones, unbind."""
    # if the supervisor dies (even by SIGKILL), stop as on SIGTERM: unbind, traffic bypasses
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    classifier = Classifier(Engine(catalog, max_flows=max_flows, inspect_limit=inspect_limit,
                                   names=names), num)
    seen = [-1]

    def map_lists():
        """Map the domain lists the supervisor compiled, when it compiled new ones."""
        if lists is not None and lists.generation.value != seen[0]:
            seen[0] = lists.generation.value
            try:
                classifier.engine.lists = open_lists(catalog, lists.compiled_now())
            except (OSError, ValueError) as exc:
                print(f"pnsbox-classifier: queue {num}: domain lists not mapped: {exc}", flush=True)

    map_lists()
    try:
        queue = Queue(num, classifier, netns)
    except Exception as exc:
        conn.send(("error", f"queue {num}: {exc}"))
        raise SystemExit(1) from exc
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: queue.stop_intake())
    if os.getppid() != parent:  # the supervisor died before the signal could be asked for
        queue.stop_intake()
    conn.send(("bound", {"queue": num, "fail_open": queue.fail_open, "rcvbuf": queue.rcvbuf}))
    lock = threading.Lock()  # the pipe is shared by the reporter thread and the final report

    def report():
        with lock:
            conn.send(("snapshot", classifier.snapshot(queue.stats())))

    def reporter():
        while True:
            time.sleep(REPORT_SECONDS)
            map_lists()
            report()

    threading.Thread(target=reporter, name="report", daemon=True).start()

    def tick():
        classifier.counts.alive_at = time.perf_counter()

    queue.run(tick)
    report()
    with lock:
        conn.send(("stopped", num))

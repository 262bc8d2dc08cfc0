"""pnsbox-classifier: the NFQUEUE consumer that classifies new flows.

The kernel queues the first packets of each unclassified flow to queues 0..N-1 (balanced by
flow hash, with --queue-bypass); one worker process per queue runs the engine and accepts
every packet, with the verdict's mark once the flow has one. This process supervises the
workers and serves the metrics; on SIGTERM/SIGINT the workers unbind cleanly and traffic
keeps flowing, unclassified, through the bypass.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from .. import __version__
from ..problems import ConfigError
from ..sdnotify import notify
from . import native
from .catalog import DEFAULT_CATALOG, DEFAULT_LISTS, load_catalog
from .lists import compile_lists
from .metrics import DEFAULT_LISTEN, ClassifierCollector, serve
from .queue import open_proc_queues, read_queue_stats
from .shared_names import SharedNames
from .worker import run_worker

START_SECONDS = 30       # for every worker to bind its queue
STOP_SECONDS = 10        # for the workers to answer what they hold and unbind
ALIVE_SECONDS = 10       # a worker silent for longer than this is not reported alive to systemd


class DomainLists:
    """The catalog's domain lists, compiled to files the workers map; SIGHUP compiles them
    again and bumps a generation number the workers watch (they map the new files between
    two packets)."""

    def __init__(self, catalog, directory: Path, context):
        self.catalog = catalog
        self.directory = directory
        self.into = Path(tempfile.mkdtemp(prefix="pnsbox-lists-"))
        self.generation = context.Value("L", 0, lock=False)
        self.compiled: dict = {}
        self.reload_asked = False

    def load(self) -> None:
        """Compile every list; on a bad file keep the lists as they were and say why."""
        self.reload_asked = False
        started = time.monotonic()
        try:
            self.compiled = compile_lists(self.catalog, self.directory, self.into)
        except (ConfigError, OSError) as exc:
            print(f"pnsbox-classifier: domain lists not (re)loaded, the old ones stay: {exc}",
                  file=sys.stderr, flush=True)
            return
        self.generation.value += 1
        missing = sorted(set(self.catalog.category_lists) - set(self.compiled))
        print(f"pnsbox-classifier: domain lists loaded in {time.monotonic() - started:.1f} s: "
              f"{', '.join(sorted(self.compiled)) or 'none'}"
              + (f" (no file in {self.directory} for {', '.join(missing)})" if missing else ""), flush=True)

    def compiled_now(self) -> dict:
        """The compiled files as they are now (a worker forked before a reload asks this)."""
        return {path.stem: path for path in self.into.glob("*.idx")
                if path.stem in self.catalog.category_lists}

    def remove(self) -> None:
        shutil.rmtree(self.into, ignore_errors=True)


class Supervisor:
    def __init__(self, catalog, queues: int, netns: str | None, max_flows: int, inspect_limit: int,
                 lists_directory: Path = DEFAULT_LISTS):
        self.netns = netns
        self.snapshots: dict[int, dict] = {}
        self.ready = False
        self.stop_asked = False
        context = multiprocessing.get_context("fork")
        self.lists = DomainLists(catalog, lists_directory, context)
        self.lists.load()
        # names from DNS answers, shared by the workers (one worker needs no sharing)
        names = SharedNames.create() if queues > 1 else None
        self.workers: dict[int, tuple] = {}  # queue -> (process, connection)
        for num in range(queues):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=run_worker, name=f"pnsbox-classifier-{num}", daemon=True,
                                      args=(send, num, netns, catalog, max_flows, inspect_limit, os.getpid(),
                                            self.lists, names))
            process.start()
            send.close()
            self.workers[num] = (process, receive)

    def collector(self) -> ClassifierCollector:
        proc = open_proc_queues(self.netns)
        mine = set(self.workers)
        return ClassifierCollector(
            snapshots=lambda: list(self.snapshots.values()),
            queue_stats=lambda: {n: s for n, s in read_queue_stats(proc).items() if n in mine},
            ready=lambda: self.ready)

    def wait_bound(self) -> None:
        """Until every worker has bound its queue; raises if one could not."""
        waiting = set(self.workers)
        deadline = time.monotonic() + START_SECONDS
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0 or self.stop_asked:
                raise RuntimeError(f"queues {sorted(waiting)} were not bound in time")
            for num in list(waiting):
                process, conn = self.workers[num]
                if conn.poll(min(left, 0.1)):
                    kind, value = self._receive(num)
                    if kind == "bound":
                        waiting.discard(num)
                        print(f"pnsbox-classifier: queue {num} bound (fail-open "
                              f"{'acknowledged' if value['fail_open'] else 'not acknowledged'}, "
                              f"receive buffer {value['rcvbuf']} bytes)", flush=True)
                    elif kind == "error":
                        raise RuntimeError(value)
                elif not process.is_alive():
                    raise RuntimeError(f"the worker of queue {num} exited ({process.exitcode})")
        self.ready = True

    def _receive(self, num: int) -> tuple[str, object]:
        try:
            kind, value = self.workers[num][1].recv()
        except (EOFError, OSError):
            return "closed", None
        if kind == "snapshot":
            self.snapshots[num] = value
        return kind, value

    def stop(self, *_ignored) -> None:
        self.stop_asked = True

    def reload(self, *_ignored) -> None:
        self.lists.reload_asked = True

    def run(self) -> int:
        """Collect snapshots and keep systemd's watchdog fed until asked to stop or a worker
        dies; then stop every worker. 0 if it was asked to, 1 if a worker died."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        failed = False
        while not self.stop_asked and not failed:
            conns = {conn: num for num, (_, conn) in self.workers.items()}
            for ready in multiprocessing.connection.wait([*conns, wake_r], timeout=1.0):
                if ready == wake_r:
                    os.read(wake_r, 512)
                elif self._receive(conns[ready])[0] == "closed":
                    failed = True
                    print(f"pnsbox-classifier: the worker of queue {conns[ready]} died", flush=True)
            if self.lists.reload_asked:
                self.lists.load()
            if self._alive():
                notify("WATCHDOG=1")
        notify("STOPPING=1")
        clean = self.stop_workers()
        self.lists.remove()
        return 1 if not clean or failed else 0

    def _alive(self) -> bool:
        now = time.monotonic()
        return all(now - self.snapshots.get(num, {}).get("alive_at", now) < ALIVE_SECONDS
                   for num in self.workers)

    def stop_workers(self) -> bool:
        """SIGTERM each worker (again every second: one still starting may miss the first)."""
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline:
            running = [(num, p) for num, (p, _) in self.workers.items() if p.is_alive()]
            if not running:
                break
            for _, process in running:
                os.kill(process.pid, signal.SIGTERM)
            for _, process in running:
                process.join(max(0.0, min(1.0, deadline - time.monotonic())))
            for num, (_, conn) in self.workers.items():
                while conn.poll():
                    if self._receive(num)[0] == "closed":
                        break
        clean = True
        for num, (process, _) in self.workers.items():
            if process.is_alive():
                process.kill()
                process.join()
            if process.exitcode != 0:
                clean = False
                print(f"pnsbox-classifier: the worker of queue {num} exited with {process.exitcode}",
                      flush=True)
        return clean


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pnsbox-classifier", description="classify new flows from NFQUEUE")
    parser.add_argument("--netns", help="bind the queues in this network namespace (labs and tests); the "
                                        "metrics endpoint stays in the process's own namespace")
    parser.add_argument("--queues", type=int, default=1,
                        help="bind queues 0..N-1, one worker process each (default 1); the names "
                             "DNS answers taught are shared by all of them")
    parser.add_argument("--catalog", default=str(DEFAULT_CATALOG),
                        help=f"the application catalog (default {DEFAULT_CATALOG})")
    parser.add_argument("--lists", type=Path, default=DEFAULT_LISTS,
                        help=f"directory of domain lists (NAME.txt) for the catalog's categories that "
                             f"name one (default {DEFAULT_LISTS}); SIGHUP reloads them")
    parser.add_argument("--inspect-packets", type=int, default=12,
                        help="packets of a flow to inspect at most; must equal the kernel rule's "
                             "conntrack packet bound (default 12)")
    parser.add_argument("--max-flows", type=int, default=65536,
                        help="flows each worker keeps state for (default 65536)")
    parser.add_argument("--metrics-listen", default=os.environ.get("PNSBOX_CLASSIFIER_METRICS_LISTEN",
                                                                   DEFAULT_LISTEN),
                        help=f"ADDRESS:PORT of the Prometheus endpoint, or `off` (default {DEFAULT_LISTEN})")
    parser.add_argument("--version", action="version",
                        version=f"pnsbox-classifier {__version__}, {native.describe()}")
    args = parser.parse_args(argv)
    if not 1 <= args.queues <= 64:
        parser.error("--queues must be between 1 and 64")
    if args.inspect_packets < 1 or args.max_flows < 1:
        parser.error("--inspect-packets and --max-flows must be at least 1")
    if args.netns and not os.path.exists(f"/run/netns/{args.netns}"):
        parser.error(f"no network namespace {args.netns}")
    try:
        catalog = load_catalog(args.catalog)
    except ConfigError as exc:
        print(f"pnsbox-classifier: {exc}", file=sys.stderr)
        return 2

    print(f"pnsbox-classifier: {native.describe()}", flush=True)
    supervisor = Supervisor(catalog, args.queues, args.netns, args.max_flows, args.inspect_packets,
                            args.lists)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, supervisor.stop)
    signal.signal(signal.SIGHUP, supervisor.reload)
    try:
        supervisor.wait_bound()
    except RuntimeError as exc:
        if supervisor.stop_asked:  # stopped while starting: nothing failed
            return 0 if supervisor.stop_workers() else 1
        print(f"pnsbox-classifier: {exc}", file=sys.stderr, flush=True)
        supervisor.stop_workers()
        return 1
    if args.metrics_listen != "off":
        try:
            server = serve(args.metrics_listen, supervisor.collector())
        except (OSError, ValueError) as exc:
            print(f"pnsbox-classifier: cannot serve metrics on {args.metrics_listen}: {exc}", file=sys.stderr)
            supervisor.stop_workers()
            return 1
        print(f"pnsbox-classifier: metrics on {args.metrics_listen.rpartition(':')[0]}:"
              f"{server.server_port}", flush=True)
    notify("READY=1")
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())

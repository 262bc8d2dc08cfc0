"""The daemon's state machine, without any I/O loop: apply, confirm, rollback, tick.

Files under the state directory (crash-safe writes):
  confirmed.json  the last version an admin confirmed (or applied without --confirm)
  pending.json    a change awaiting confirm (state.Pending: version, deadline, rollback_to, author)
  applying.json   written before the kernel is touched, removed once the new version is
                  recorded (state.Journal): finding it at start means an apply was cut off
                  (for a first apply, with nothing before it, the files too: it is completed)
                  These three are read and written through pnsbox.state.StateFiles only.
  boot.nft        the confirmed version's ruleset, for the boot unit's plain `nft -f`
  usage.json      per-OPD bytes and packets by month (observe.usage), for auditors' reports
  series.db       per-OPD rate series (pnsbox.series), for the monthly evaluation and allocation
A restart reads them all, so a pending deadline survives a crash and a cut-off apply
ends on the version that ran before it (the kernel never keeps a mix).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from .. import series
from ..apply import nft
from ..apply.netns import run
from ..apply.owned import OwnedRecord, write_atomic
from ..apply.pipeline import Renders, apply, plan
from ..checks import run_checks
from ..classifier.catalog import Catalog, load_catalog
from ..errors import ChecksFailed, ConfigError, KernelError, PlanError, Refused
from ..load import check_site_files, load_files
from ..lockout import lockout
from ..model import TIMEZONES, Config
from ..observe import classifier, counters, nfnl, shaping, table, usage
from ..parse_memo import ParseMemo
from ..series import SeriesStore
from ..settled import already_runs
from ..state import Journal, Pending, StateFiles
from ..store import AuditLog, History, site_files
from ..validate import ItemMemo, build
from ..wording import Said, say, structured
from .heap import Heap
from .rollbacks import RollbackRecord
from .statedir import StateDirLock, check_namespace

DAEMON = "pnsboxd"
FULL_DRIFT_SECONDS = 2.0  # links, addresses and tc classes are compared this often (nft: every tick)



@dataclass(frozen=True)
class Request:
    """Who asks, from where (`ssh:10.30.0.5`, `web:...`, `local`), and over which port."""

    author: str
    origin: str = "local"
    port: str | None = None  # tcp/22 for SSH; the anti-lockout check tests this one
    peer: str | None = None  # the Unix user on the control socket, when it speaks for someone else
    role: str | None = None  # the web UI's role for its user; None: a shell user of the box (an admin)

    @property
    def is_admin(self) -> bool:
        return self.role in (None, "admin")

    @property
    def where(self) -> str:
        """The audit trail's "from": the origin, and who relayed it."""
        return f"{self.origin} via {self.peer}" if self.peer and self.peer != self.author else self.origin


def config_of(files: dict[str, str], where: str = "", memo: Memos | None = None) -> Config:
    """Build a config from a site's files (a version's, or the web UI's edited ones), parsed
    from their text under load's bounds. Problems name the files as `where/NAME`. With the
    daemon's memos, only what changed since the last loads is parsed and validated again."""
    check_site_files(files)  # exact names only: `./pnsbox.yaml` must not shadow pnsbox.yaml
    if memo is None:
        return build(load_files(files, where))
    return build(load_files(files, where, memo.parsed), memo.validated)


class Memos:
    """The parsed and validated pieces of the last configs pnsboxd applied (and the one before):
    a rate change or a new policy at 1,000 OPDs parses and validates one item, not 6,000."""

    def __init__(self):
        self.parsed = ParseMemo()
        self.validated = ItemMemo()


class Daemon:
    """The box's state, as the records under the state directory hold it, and its transitions.

    States: NOTHING (no version yet), CONFIRMED v, PENDING v (a deadline, and the version r a
    revert returns to), APPLYING (the journal: the kernel is being changed).

      apply    NOTHING | CONFIRMED | PENDING -> APPLYING -> CONFIRMED v' (or PENDING v' with
               --confirm); the kernel refusing or the checks failing -> back to what ran
      confirm  PENDING v -> CONFIRMED v
      revert   PENDING v -> CONFIRMED r, when the deadline passes (a tick, or at start)
      repair   CONFIRMED v | PENDING v whose kernel drifted -> the same state, the kernel put back
      recover  APPLYING found at start -> what ran before it (a cut-off first apply is completed)
    """

    def __init__(self, state_dir: str, netns: str | None = None, usage_interval: float = 60.0,
                 peer: str | None = None, metrics: bool = True):
        self.state_dir = Path(state_dir)
        self.netns = netns
        self.peer = peer or os.environ.get("PNSBOX_HA_PEER") or None  # which hub of an HA pair
        self.ha = None  # peer.PeerLink, when pnsboxd runs as one hub of an HA pair
        self.history = History(state_dir)
        self.records = StateFiles(state_dir)  # confirmed, pending, the apply journal
        self.audit = AuditLog(state_dir, self.peer)
        self.rollbacks = RollbackRecord(state_dir)
        self.lock = threading.RLock()  # applies, confirms, rollbacks, repairs: one at a time
        self.sampling = threading.Lock()  # the counters' samples (usage book, rate series): one at a time
        self.applies = 0  # kernel changes made so far: a drift check that saw another count is stale
        # pnsboxd's /metrics. A one-shot apply in the CLI has no reader for them (metrics=False),
        # and prometheus_client takes ~20 ms to import.
        self.metrics = None
        if metrics:
            from .metrics import DaemonMetrics

            self.metrics = DaemonMetrics(self)
        self.config: Config | None = None  # what runs now, for the plan switch and drift repair
        self.rates_checked_at = None  # the UTC minute the time-of-day rates were last put in force
        self.full_drift_at = 0.0
        self.last_check_failures: list[str] = []
        self.last_drift: dict | None = None  # {"time", "detail", "said"} of the last repair
        self.table_generation: int | None = None  # nf_tables generation after our last apply
        self.table_fingerprint: str | None = None  # our table's rules and set elements as loaded
        self.usage_interval = usage_interval  # seconds between samples of the counters
        self.usage_due = 0.0  # time.monotonic() of the next sample
        self.series: SeriesStore | None = None  # opened at the first sample
        self.renders = Renders()  # the running config's render: the drift check plans every 2 s
        self._catalog: Catalog | None = None  # the application catalog, read once when first needed
        self._classes_seen = None  # (drops, plans) of the HTB classes at the last regular sample
        self.memos = Memos()  # the running config's parsed and validated pieces, for the next apply
        self._boot_digest: str | None = None  # the ruleset boot.nft was last saved or found to hold
        self.heap = Heap()  # what the memos and the render keep, set aside from the garbage collector

    def claim(self, what: str, socket: str | None = None) -> None:
        """Own the state directory (pnsboxd for its life, an in-process apply for its run);
        raises statedir.StateDirBusy or StateDirMismatch."""
        self._state_lock = StateDirLock(self.state_dir)
        self._state_lock.acquire(what, socket)
        try:
            check_namespace(self.state_dir, self.netns)
        except Exception:
            self._state_lock.release()
            raise

    def _may_settle(self, request: Request, doing: str) -> None:
        """A pending change is confirmed, cancelled or built on by its author or an admin only:
        an operator applying on top of an admin's unconfirmed change would settle it with theirs."""
        if request.role == "auditor":
            raise Refused(say("settle.auditor"))
        pending = self.pending()
        author = pending.author if pending else None
        if pending and author and author != request.author and not request.is_admin:
            raise Refused(say("settle.not_yours", version=pending.version, author=author, doing=doing))

    # --- persisted state -------------------------------------------------------------

    def confirmed(self) -> int | None:
        return self.records.confirmed()

    def pending(self) -> Pending | None:
        pending = self.records.pending()
        if pending and pending.version == self.confirmed():  # a confirm cut off between its two writes
            self.records.set_pending(None)
            return None
        return pending

    def pending_record(self) -> dict | None:
        """The pending change as replies carry it."""
        pending = self.pending()
        return asdict(pending) if pending else None

    def running(self) -> int | None:
        """The version the kernel should hold: a pending change, else the confirmed one."""
        pending = self.pending()
        return pending.version if pending else self.confirmed()

    # --- the kernel --------------------------------------------------------------------

    def _catalog_for(self, config: Config) -> Catalog | None:
        if self._catalog is None and config.classifier is not None:
            self._catalog = load_catalog()
        return self._catalog

    def _run_version(self, version_id: int, force: bool = True) -> None:
        """Put a recorded version back, observing everything (it repairs whatever differs);
        without `force`, an ordinary apply (a version the HA peer made)."""
        config = config_of(self.history.get(version_id).files, memo=self.memos)
        self._timed_apply(config, force=force)
        self.config = config

    def tunnels_now(self) -> None:
        """Re-apply the running config now, so the hub's WireGuard peers follow the edge book at
        once (an edge enrolled, disabled or rotated here, or a book taken from the HA peer)
        instead of at the next apply. Only the peers differ, and only they change."""
        if self.config is not None and self.running() is not None:
            self.applies += 1
            apply(self.config, self.netns, str(self.state_dir), catalog=self._catalog_for(self.config),
                  renders=self.renders, peer=self.peer)

    def _timed_apply(self, config: Config, force: bool):
        started = time.monotonic()
        reloaded = []
        self.applies += 1

        def before_reload():  # a reload starts the kernel's counters again: count what they hold first
            self.sampling.acquire()  # held until after the reload: no regular sample in between
            reloaded.append(True)
            self._sample(around_reload=True)

        try:
            result = apply(config, self.netns, str(self.state_dir), force=force, catalog=self._catalog_for(config),
                           renders=self.renders, before_reload=before_reload, peer=self.peer)
            if self.metrics:
                self.metrics.apply_seconds.observe(time.monotonic() - started)
            if reloaded:
                # And again at once: a reset counter that climbed past its old value before the next sample
                # would look like one that moved on (its traffic lost); read now, it is still below.
                # The classes are read too when the apply changed them (their drops may have restarted).
                self._sample(around_reload=not any(step.kind.tool == "tc" for step in result.steps))
        finally:
            if reloaded:
                self.sampling.release()
        if self.metrics:
            self.metrics.last_apply.set(time.time())
        # The table is as loaded right now: the next quiet drift check takes its fingerprint. An apply
        # that left the table alone (a rate change) keeps the one taken (~0.3 s of CPU at 1,000 OPDs).
        generation = nfnl.generation(self.netns)
        if generation != self.table_generation:
            self.table_generation, self.table_fingerprint = generation, None
        return result

    def _save_boot_ruleset(self, digest: str | None = None) -> None:
        """What the boot unit loads before the network comes up: the confirmed ruleset.
        `digest`: the confirmed ruleset's, when the caller knows it (a rate change keeps the
        ruleset: boot.nft, saved for that digest here before, is left as it is)."""
        path = self.state_dir / "boot.nft"
        if digest is not None and digest == self._boot_digest and path.is_file():
            return
        owned = OwnedRecord(self.state_dir, self.netns).read()
        text = owned.ruleset
        try:
            same = path.read_text() == nft.PREAMBLE + text if text else False
        except OSError:
            same = False
        if text and not same:  # no 1 MB rewrite and fsync when it holds this ruleset already
            write_atomic(path, nft.PREAMBLE + text)
        self._boot_digest = owned.digest if text else None

    # --- operations ------------------------------------------------------------------

    def start(self) -> str:
        """Run what should run: a pending change still in its window, else the confirmed version."""
        with self.lock:
            notes = []
            journal = self.records.journal()
            if journal and journal.previous == self.running():
                if journal.previous is None and journal.files:
                    return self._recover_first_apply(journal)
                notes.append(self._recover(journal))
            self.records.set_journal(None)
            pending = self.pending()
            if pending and pending.deadline <= time.time():
                return "; ".join([*notes, self._revert(pending, say("rollback.why.deadline_while_down"))])
            running = self.running()
            if not running:
                return "; ".join([*notes, "no confirmed version yet"])
            self._run_version(running)
            if not pending:
                self._save_boot_ruleset()
            what = f"resumed version {running}, awaiting confirm" if pending else f"running confirmed version {running}"
            return "; ".join([*notes, what])

    def _recover(self, journal: Journal) -> str:
        """recover: an apply was cut off; the version before it is put back below (start)."""
        note = say("audit.interrupted.back", started=f"{journal.time:.0f}", version=journal.previous)
        self.audit.append("interrupted", DAEMON, "local", note)
        return note

    def _recover_first_apply(self, journal: Journal) -> str:
        """recover, with nothing before it: "the old config" is no config, so finish the new one."""
        note = say("audit.interrupted.first")
        self.audit.append("interrupted", DAEMON, "local", note)
        self.records.set_journal(None)
        self.apply_files(journal.files, Request(journal.author or DAEMON),
                         say("audit.message.first_completed"), force=True)
        return f"{note}: running version {self.running()}"

    def apply_site(self, site_dir: str, request: Request, message: str, confirm_seconds: float | None = None,
                   force: bool = False) -> dict:
        return self.apply_files(site_files(site_dir), request, message, confirm_seconds, force, where=site_dir)

    def apply_files(self, files: dict[str, str], request: Request, message: str,
                    confirm_seconds: float | None = None, force: bool = False, action: str = "apply",
                    where: str = "") -> dict:
        doing = "roll back" if action == "rollback" else "apply on top of it"
        # The box runs these very files: nothing to parse, render or change. Read-only, so it is
        # answered without waiting for the lock (a drift check at 1,000 OPDs holds it a while);
        # a change under way shows in applying.json and the table's digest, and takes the full path.
        running = None if force else already_runs(files, self.state_dir, self.netns)
        if running is not None:
            self._may_settle(request, doing)
            return {"version": running, "changes": [], "pending": self.pending_record(), "unchanged": True}
        with self.lock:
            self._may_settle(request, doing)
            self._only_on_active(request, force, "rollback" if action == "rollback" else "apply")
            config = config_of(files, where, self.memos)  # a bad config never reaches the kernel
            why = None if force else lockout(self._running_config, config, request.origin, request.port,
                                             datetime.now(UTC), self._arrives_on(request.origin))
            if why:
                self.audit.append("refused", request.author, request.where, say("audit.refused", why=why))
                raise Refused(why)
            return self._put_live(config, files, request, message, confirm_seconds, force, action)

    def _arrives_on(self, origin: str) -> str | None:
        """The interface the requester's packets come in on (the route back to them)."""
        address = origin.partition(":")[2]
        if not address:
            return None
        found = run(["ip", "-j", "route", "get", address], self.netns, check=False)
        try:
            return json.loads(found.stdout)[0].get("dev")
        except (ValueError, IndexError, AttributeError):
            return None

    def _running_config(self) -> Config | None:
        if self.config is None and self.running():
            self.config = config_of(self.history.get(self.running()).files)
        return self.config

    def rollback(self, version_id: int, request: Request, confirm_seconds: float | None = None,
                 force: bool = False) -> dict:
        with self.lock:
            self._may_settle(request, "roll back")
            files = self.history.get(version_id).files
            return self.apply_files(files, request, say("audit.message.rollback_to", version=version_id),
                                    confirm_seconds, force,
                                    action="rollback")

    def _put_live(self, config: Config, files: dict, request: Request, message: str,
                  confirm_seconds: float | None, force: bool, action: str) -> dict:
        """apply: what runs -> APPLYING -> a recorded, checked version, confirmed or pending."""
        previous = self.running()
        if confirm_seconds and not (self.confirmed() or previous):
            raise Refused(say("settle.nothing_confirmed"))
        self.records.set_journal(Journal(previous, time.time(), request.author, None if previous else files))
        result = self._load(config, force, previous, request, message)
        self.config = config
        if previous and self.history.get(previous).files == files:  # the same config: no new version
            return self._repaired_by_request(previous, result, request)
        # a rate-only change keeps the ruleset, and so its digest
        digest = result.digest
        version = self.history.record(files, request.author, message, digest, parent=previous)
        self._verify(config, version.id, previous, request)
        forced = say("audit.forced") if force else ""
        if confirm_seconds:
            self._await_confirm(version.id, confirm_seconds, request)
            detail = say("audit.change.pending", version=version.id, message=message,
                         seconds=f"{confirm_seconds:g}", changes=len(result.steps), forced=forced)
        else:
            self._confirm_now(version.id, digest)
            detail = say("audit.change.done", version=version.id, message=message, changes=len(result.steps),
                         forced=forced)
        self.records.set_journal(None)
        if action == "rollback" and previous:
            self.rollbacks.mark(previous, say("rollback.why.rolled_back_by", author=request.author, message=message),
                                version.id)
        self.audit.append("rollback" if action == "rollback" else "apply", request.author, request.where, detail)
        self._changed()
        return {"version": version.id, "changes": [s.text.splitlines()[0] for s in result.steps],
                "pending": self.pending_record()}

    def _load(self, config: Config, force: bool, previous: int | None, request: Request, message: str):
        """The kernel takes the config; refused, what ran before is put back (then raises)."""
        try:
            return self._timed_apply(config, force)
        except PlanError:
            self.records.set_journal(None)  # refused while planning: the kernel was not touched
            raise
        except KernelError as exc:
            restored = self._restore(previous)
            self.records.set_journal(None)
            self.audit.append("failed", request.author, request.where,
                              say("audit.failed", message=message, error=_said_or_text(exc), restored=restored))
            raise KernelError(f"{exc}\n{restored}") from exc

    def _repaired_by_request(self, version_id: int, result, request: Request) -> dict:
        """repair, asked for: the running version's own files again (no new version)."""
        self.records.set_journal(None)
        if result.steps:
            self.audit.append("repair", request.author, request.where,
                              say("audit.repair", version=version_id, changes=len(result.steps)))
        return {"version": version_id, "changes": [s.text.splitlines()[0] for s in result.steps],
                "pending": self.pending_record(), "unchanged": True}

    def _verify(self, config: Config, version_id: int, previous: int | None, request: Request) -> None:
        """The version's checks, on the box; failed, back to what ran (then raises ChecksFailed).
        With nothing to go back to, it stays and runs as confirmed (drift repair watches it)."""
        failures = run_checks(config.checks, self.netns)
        self.last_check_failures = failures
        if not failures:
            return
        restored = self._restore(previous)
        if not previous:
            self._confirm_now(version_id)
        self.records.set_journal(None)
        if self.metrics:
            self.metrics.check_failures.inc()
        self.audit.append("check-failed", request.author, request.where,
                          say("audit.check-failed", version=version_id, failures=failures, restored=restored))
        if previous:
            self.rollbacks.mark(version_id, say("rollback.why.checks_failed", failures=failures), previous,
                                automatic=True)
        raise ChecksFailed(say("checks.failed", version=version_id, failures=failures, restored=restored))

    def _await_confirm(self, version_id: int, seconds: float, request: Request) -> None:
        """-> PENDING: a revert returns to the last confirmed version (not to another pending one)."""
        current = self.pending()
        rollback_to = (current.rollback_to if current else None) or self.confirmed()
        self.records.set_pending(Pending(version_id, time.time() + seconds, rollback_to, request.author))

    def _confirm_now(self, version_id: int, digest: str | None = None) -> None:
        """-> CONFIRMED, and the boot unit loads this version's ruleset (`digest`) from now on."""
        self.records.set_pending(None)
        self.records.set_confirmed(version_id)
        self._save_boot_ruleset(digest)

    def _restore(self, version_id: int | None) -> str:
        if not version_id:
            return say("audit.restored.nothing")
        self._run_version(version_id)
        return say("audit.restored.version", version=version_id)

    def confirm(self, request: Request) -> dict:
        """confirm: PENDING v -> CONFIRMED v. The confirmed record is written first: a confirm
        cut off between its two writes is finished by pending()."""
        with self.lock:
            pending = self.pending()
            if not pending:
                raise LookupError(say("confirm.nothing_pending"))
            self._may_settle(request, "confirm it")
            self._only_on_active(request, False, "confirm")
            self.records.set_confirmed(pending.version)
            self.records.set_pending(None)
            self._save_boot_ruleset()
            self.audit.append("confirm", request.author, request.where, say("audit.confirm", version=pending.version))
            self._changed()
            return {"confirmed": pending.version}

    def _revert(self, pending: Pending, why: str) -> str:
        """revert: PENDING v -> CONFIRMED r, the kernel running r again."""
        target = pending.rollback_to
        if target:
            self._run_version(target)
            self._save_boot_ruleset()
        self.records.set_pending(None)
        self.rollbacks.mark(pending.version, why, target, automatic=True)
        self.audit.append("rollback", DAEMON, "local", say("audit.rollback.automatic", version=target, why=why))
        self._changed()
        return f"rolled back to version {target}: {why}"

    # --- the HA pair ------------------------------------------------------------------

    def _changed(self) -> None:
        """A new version, a confirm or a rollback: the HA peer syncs now."""
        if self.ha is not None:
            self.ha.notify_change()

    def _only_on_active(self, request: Request, force: bool, doing: str) -> None:
        """Changes are made on the active hub; the standby takes them from it. --force overrides
        (audited): the peer then sees a version it lacks, and fetches it or reports a split brain."""
        active = self.ha.active_elsewhere() if self.ha is not None else None
        if active is None:
            return
        if force:
            self.audit.append("forced-on-standby", request.author, request.where,
                              say("audit.forced-on-standby", doing=doing, hub=self.peer, active=active))
            return
        why = say("ha.refused.standby", hub=self.peer, doing=doing, active=active)
        self.audit.append("refused", request.author, request.where, why)
        raise Refused(why)

    def adopt(self, records: list[dict], state, hub: str) -> str | None:
        """Catch-up: versions made on HUB, recorded oldest first exactly as made there, then the
        kernel runs what HUB runs (replication.RunState)."""
        with self.lock:
            for record in records:
                version = self.history.adopt(record)
                self.audit.append("replicated", version.author, f"peer:{hub}",
                                  say("audit.replicated", version=version.id, hub=hub, message=version.message))
            return self._follow(state, hub)

    def follow(self, state, hub: str) -> str | None:
        """Run what the active hub HUB runs (its confirm, its rollback), when it differs."""
        with self.lock:
            return self._follow(state, hub)

    def _follow(self, state, hub: str) -> str | None:
        from .replication import RunState, describe_change

        before = RunState(self.running(), self.confirmed(), self.pending_record())
        if before == state or not state.running or state.reverting(time.time()):
            return None
        if state.running != before.running or self.config is None:
            self.records.set_journal(Journal(before.running, time.time(), DAEMON, None))
            try:
                self._run_version(state.running, force=False)  # its own kernel, as this hub renders it
            except (ConfigError, PlanError):
                self.records.set_journal(None)  # refused before the kernel was touched
                raise
            except KernelError as exc:
                restored = self._restore(before.running)
                self.records.set_journal(None)
                self.audit.append("failed", DAEMON, f"peer:{hub}",
                                  say("audit.failed.follow", version=state.running, error=_said_or_text(exc),
                                      restored=restored))
                raise
        if state.confirmed:
            self.records.set_confirmed(state.confirmed)
        pending = state.pending
        self.records.set_pending(Pending(**{k: pending.get(k) for k in Pending.__dataclass_fields__})
                                 if pending else None)
        if not pending:
            self._save_boot_ruleset()
        self.records.set_journal(None)
        detail = describe_change(before, state, hub)
        self.audit.append("follow", DAEMON, f"peer:{hub}", detail)
        return detail

    def set_aside(self, first: int, label: str) -> Path:
        """Ending a split brain on the side not kept: versions FIRST.. leave the history (kept in
        history/LABEL/); the records point at the last shared version until the catch-up."""
        with self.lock:
            aside = self.history.set_aside(first, label)
            self.records.set_pending(None)
            self.records.set_confirmed(first - 1 if first > 1 else None)
            return aside

    def acknowledge(self, request: Request) -> dict:
        """Someone saw the automatic rollback: its alert ends (the history keeps the mark)."""
        with self.lock:
            alert = self.rollbacks.acknowledge()
            self.audit.append("acknowledge", request.author, request.where,
                              say("audit.acknowledge", version=alert["version"], reason=alert.get("said") or alert["reason"]))
            return {"acknowledged": alert}

    def tick(self, now: datetime | None = None) -> str | None:
        """One pass of the loop: a passed confirm deadline, the time-of-day bandwidth rates
        (once a minute; only classes whose rates change), the counters' sample, then drift.
        The sample and the drift check's reads of the kernel run without the apply lock: at
        1,000 OPDs they take 0.2-0.8 s, which an admin's apply would otherwise wait out."""
        if not self.lock.acquire(timeout=0.5):
            return None  # an apply (with its checks, maybe a rollback) is running: next tick
        try:
            pending = self.pending()
            if pending and time.time() >= pending.deadline:
                return self._revert(pending, say("audit.why.not_confirmed", version=pending.version))
            now = now or datetime.now(UTC)
            event = self._switch_rates(now)
            sample = time.monotonic() >= self.usage_due
            if sample:  # on a grid, so samples do not drift apart
                self.usage_due = max(self.usage_due + self.usage_interval, time.monotonic())
        finally:
            self.lock.release()
        if sample:
            self.sample_usage(now)
        return self._repair_drift(now) or event

    def _month(self, now: datetime | None = None) -> str:
        """The month as the site's clock shows it."""
        return usage.month_of(now or datetime.now(UTC), self.config.site.timezone if self.config else "Asia/Jakarta")

    def sample_usage(self, now: datetime | None = None, around_reload: bool = False) -> None:
        """Add what the per-OPD counters moved since the last sample to this month's usage.
        `around_reload`: only what a reload of the table resets is read (nft's counters); the
        HTB classes' drops and plans are not touched by it, so the last sample's stand in
        (their moves count at the next regular sample): reading 2,000 classes twice took
        ~0.4 s of a one-policy apply at 1,000 OPDs."""
        with self.sampling:
            self._sample(now, around_reload)

    def _sample(self, now: datetime | None = None, around_reload: bool = False) -> None:
        """sample_usage, its caller holding the sampling lock."""
        skew = now.timestamp() - time.time() if now else 0.0  # a clock a test set
        found = counters.read(self.netns, rules=False)  # the named counters are all it needs
        read_at = datetime.fromtimestamp(time.time() + skew, UTC)  # rates are over the reads' interval
        if found is None:
            return
        book = usage.accumulate(usage.read_book(self.state_dir), usage.readings(found), self._month(now))
        usage.write_book(self.state_dir, book)
        try:
            self._sample_series(found, read_at, around_reload)
        except Exception as exc:  # the series never stand in the way of an apply; the book has the bytes
            print(f"pnsboxd: could not record the rate series: {exc}", flush=True)

    def _sample_series(self, found, now: datetime, around_reload: bool = False) -> None:
        offset = TIMEZONES[self.config.site.timezone if self.config else "Asia/Jakarta"]
        if self.series is None:
            self.series = SeriesStore(self.state_dir, offset)
        self.series.offset = offset
        if not around_reload or self._classes_seen is None:
            self._classes_seen = shaping.opd_classes(self.netns, str(self.state_dir))
        drops, plans = self._classes_seen
        catalog = self._catalog_for(self.config) if self.config else None
        self.series.record(now.timestamp(), shaping.readings(found, drops), plans,
                           {name: c.bytes for name, c in found.categories.items()},
                           opd_categories=counters.opd_categories(self.netns, catalog) if catalog else None,
                           min_seconds=min(self.usage_interval / 2, 5),
                           names={key: c["name"] for key, c in found.opds.items()},
                           site=self.config.site.name if self.config else None)

    def usage_report(self, month: str | None = None) -> dict:
        month = month or self._month()
        book = usage.read_book(self.state_dir)
        return {"month": month, "months": sorted(book.months), "opds": usage.report(book, month)}

    @contextlib.contextmanager
    def series_reader(self):
        """A connection of its own for an API thread (the sampler writes on another); raises
        LookupError before the first sample."""
        if not (self.state_dir / series.FILE).is_file():
            raise LookupError(say("series.none_yet"))
        store = SeriesStore(self.state_dir, readonly=True)
        try:
            yield store
        finally:
            store.close()

    def _switch_rates(self, now: datetime) -> str | None:
        minute = now.replace(second=0, microsecond=0)
        if self.config is None or minute == self.rates_checked_at:
            return None
        self.rates_checked_at = minute
        self.applies += 1
        switched = apply(self.config, self.netns, str(self.state_dir), now=now,
                         catalog=self._catalog_for(self.config), renders=self.renders, peer=self.peer)
        if not switched.steps:
            return None
        self.audit.append("rates", DAEMON, "local",
                          say("audit.rates", time=f"{now:%H:%M}", changes=len(switched.steps)))
        return f"bandwidth rates switched ({len(switched.steps)} class changes)"

    def _repair_drift(self, now: datetime) -> str | None:
        """Put back what someone changed: the nft table (checked every tick, it is cheap), links,
        addresses, routes and tc classes (a full observe, every FULL_DRIFT_SECONDS). The full
        observe runs without the apply lock; what it found is repaired only when no apply
        changed the kernel meanwhile (else the next check compares again)."""
        if not self.lock.acquire(timeout=0.5):
            return None
        try:
            running, config, applies = self.running(), self.config, self.applies
            if config is None or not running:
                return None
            expected = OwnedRecord(self.state_dir, self.netns).read().digest
            if expected and table.running_digest(self.netns) != expected:
                return self._repair(["ruleset"], running)
            if time.monotonic() - self.full_drift_at < FULL_DRIFT_SECONDS:
                return None
            self.full_drift_at = time.monotonic()
        finally:
            self.lock.release()
        steps = plan(config, self.netns, str(self.state_dir), now=now, catalog=self._catalog_for(config),
                     renders=self.renders, peer=self.peer).steps
        drifted = sorted({step.kind for step in steps}) or self._table_drifted(applies)
        if not drifted or not self.lock.acquire(timeout=0.5):
            return None
        try:
            return self._repair(drifted, running) if self.applies == applies else None
        finally:
            self.lock.release()

    def _repair(self, drifted: list[str], running: int) -> str:
        """repair: the running version's config again, the kernel observed whole (lock held)."""
        self._timed_apply(self.config, force=True)  # self.config is the running version's
        for kind in drifted if self.metrics else ():
            self.metrics.drift_repairs.labels(kind).inc()
        detail = say("audit.drift-repair", kinds=", ".join(drifted), version=running)
        self.audit.append("drift-repair", DAEMON, "local", detail)
        self.last_drift = {"time": time.time(), "detail": detail, "said": detail.as_json()}
        return f"drift repaired: {detail}"

    def _table_drifted(self, applies: int) -> list[str]:
        """Rules or set elements added, deleted or replaced inside our table (its comment, and so
        the digest, stay). The dumps are skipped while the nf_tables generation has not moved.
        Runs without the lock: a fingerprint is kept only when no apply ran since `applies`."""
        name = nft.TABLE.split()[1]
        generation = nfnl.generation(self.netns)
        known_generation, known_fingerprint = self.table_generation, self.table_fingerprint
        if generation == known_generation:
            if known_fingerprint is None:
                fingerprint = nfnl.table_fingerprint(self.netns, name)
                self._unless_applied_since(applies, table_fingerprint=fingerprint)
            return []
        if known_fingerprint is None:  # changed before we could take its fingerprint: reload
            return ["rules"]
        if nfnl.table_fingerprint(self.netns, name) != known_fingerprint:
            return ["rules"]
        self._unless_applied_since(applies, table_generation=generation)  # another table changed, not ours
        return []

    def _unless_applied_since(self, applies: int, **known) -> None:
        """Keep what a check without the lock learnt of the table, unless an apply came between."""
        if self.lock.acquire(timeout=0.5):
            try:
                if self.applies == applies:
                    for name, value in known.items():
                        setattr(self, name, value)
            finally:
                self.lock.release()

    def status(self) -> dict:
        pending = self.pending()
        return {"running": self.running(), "confirmed": self.confirmed(), "pending": self.pending_record(),
                "confirm_seconds_left": max(0.0, pending.deadline - time.time()) if pending else None,
                "drift_repairs": self.metrics.drift_total() if self.metrics else 0, "last_drift": self.last_drift,
                "last_check_failures": self.last_check_failures,
                "last_check_failures_said": [structured(f) for f in self.last_check_failures], "rollback_alert": self.rollbacks.alert(),
                "classifier": self._classifier_status()}

    def _classifier_status(self) -> dict:
        """`down`: the config classifies but some queue has no process (flows pass unclassified)."""
        settings = self.config.classifier if self.config else None
        if settings is None:
            return {"wanted": False, "down": False}
        bound = sorted(n for n in classifier.bound_queues(self.netns) if n < settings.queues)
        return {"wanted": True, "queues": settings.queues, "bound": bound, "down": len(bound) < settings.queues}


def _said_or_text(exc: Exception) -> str:
    """An error's message as it was said (with its code, for other languages), else its English."""
    said = exc.args[0] if len(exc.args) == 1 else None
    return said if isinstance(said, Said) else str(exc)

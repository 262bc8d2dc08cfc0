"""How two hubs' histories relate, and what a hub does about it (pure: no I/O, no clock).

A version's identity is its number, its parent and its files (not its time or author: two hubs
that applied the same files in the same order hold the same history). Each version's fingerprint
chains the one before it, so comparing two fingerprints compares the whole history up to there.

  same      both hold the same versions
  behind    the peer holds every version I hold, and newer ones: I fetch them, oldest first
  ahead     I hold every version the peer holds, and newer ones: the peer fetches them
  diverged  a version number both hold differs (both hubs made changes apart): a split brain,
            shown and left alone until an admin picks the side to keep (`pnsbox ha resolve`)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from ..wording import say

GENESIS = ""


def fingerprint(previous: str, version_id: int, parent: int | None, files: dict[str, str]) -> str:
    body = json.dumps({"id": version_id, "parent": parent, "files": files}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((previous + body).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Relation:
    kind: str  # same | behind | ahead | diverged
    missing: list[int] = field(default_factory=list)  # versions I lack, oldest first (behind)
    fork: int | None = None  # the first version number the two hubs hold differently (diverged)


def relation(mine: list[tuple[int, str]], theirs: list[tuple[int, str]]) -> Relation:
    """Two chains of (version number, fingerprint), oldest first."""
    own, other = dict(mine), dict(theirs)
    for number in sorted(set(own) | set(other)):
        if number in own and number in other and own[number] != other[number]:
            return Relation("diverged", fork=number)
    only_mine = sorted(set(own) - set(other))
    only_theirs = sorted(set(other) - set(own))
    if only_mine and only_theirs:  # each holds versions the other lacks (gaps in a history)
        return Relation("diverged", fork=min(only_mine[0], only_theirs[0]))
    if only_theirs:
        return Relation("behind", missing=only_theirs)
    if only_mine:
        return Relation("ahead")
    return Relation("same")


@dataclass(frozen=True)
class RunState:
    """What a hub runs: the version in the kernel, the last confirmed one, a change awaiting confirm."""

    running: int | None
    confirmed: int | None
    pending: dict | None  # state.Pending as a dict: version, deadline, rollback_to, author

    @classmethod
    def of(cls, record: dict) -> RunState:
        return cls(record.get("running"), record.get("confirmed"), record.get("pending"))

    def reverting(self, now: float) -> bool:
        """A change past its confirm deadline is being rolled back there (and here, by our own
        clock): following it would run it again for a moment."""
        return bool(self.pending) and self.pending.get("deadline", 0) <= now


def next_step(kind: str, my_role: str, peer_role: str) -> str:
    """What this hub does after comparing histories:
      split-brain  report it, change nothing
      catch-up     fetch the missing versions in order, then run what the peer runs
      follow       run what the active peer runs (a confirm or a rollback there, no new version)
      wait         nothing: the peer fetches from me, or nobody leads
    A hub holding fewer versions catches up whatever the roles: the newer versions are an
    admin's changes that were not yet replicated, and nothing is overwritten."""
    if kind == "diverged":
        return "split-brain"
    if kind == "behind":
        return "catch-up"
    if kind == "same" and peer_role == "active" and my_role != "active":
        return "follow"
    return "wait"


def describe_change(before: RunState, after: RunState, hub: str) -> str:
    """The audit trail's words for a run state taken over from the peer."""
    was = before.pending
    if was and not after.pending and after.confirmed == was.get("version"):
        return say("audit.follow.confirmed", hub=hub, version=was["version"])
    if was and not after.pending and after.running != was.get("version"):
        return say("audit.follow.went_back", hub=hub, version=after.running, pending=was["version"])
    if after.pending:
        return say("audit.follow.pending", version=after.running, hub=hub, back_to=after.pending.get("rollback_to"))
    return say("audit.follow.runs", version=after.running, hub=hub)

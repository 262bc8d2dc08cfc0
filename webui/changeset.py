"""The way every change goes: edits collect in the user's draft (checked against the role's scope),
the draft is reviewed against what runs (a diff and the daemon's plan), then applied with a confirm
deadline through the daemon."""

from __future__ import annotations

import difflib

from pnsbox import errors
from pnsbox.control import messages as m

from . import roles
from .context import ctx, running_files, signed, status, user
from .drafts import Draft
from .site import Site, parse

StaleDraft = errors.StaleDraft


def current_draft() -> Draft | None:
    return ctx().drafts.get(user().name)


def draft_or_new() -> Draft:
    return current_draft() or Draft(base=status().running, files=dict(running_files()))


def validated(files: dict[str, str]) -> Site:
    """The site these files make, validated by pnsbox as the CLI and pnsboxd validate it;
    ConfigError (every problem with its file and line) when they refuse it."""
    return parse(files)


def save_edit(files: dict[str, str], note: str, *, validate: bool = True) -> Draft:
    """Keep an edit in the draft, if pnsbox accepts the site it makes (form edits; the file editor
    keeps a draft as typed and its review names the problems) and the user's role allows it."""
    draft = draft_or_new()
    if validate:
        validated(files)
    roles.check_change_scope(user(), running_files(), files)
    draft.files, draft.notes = files, [*draft.notes, note]
    ctx().drafts.save(user().name, draft)
    return draft


def diff_files(old: dict[str, str], new: dict[str, str]) -> str:
    """A unified diff of a whole site, file by file."""
    lines = []
    for name in sorted(set(old) | set(new)):
        lines += difflib.unified_diff(old.get(name, "").splitlines(keepends=True),
                                      new.get(name, "").splitlines(keepends=True),
                                      f"a/{name}" if name in old else "/dev/null",
                                      f"b/{name}" if name in new else "/dev/null")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def apply_files(files: dict[str, str], message: str, confirm_seconds: int | None) -> m.ApplyReply:
    """Apply a whole site through the daemon, within the user's scope."""
    roles.check_change_scope(user(), running_files(), files)
    return ctx().daemon.apply(m.ApplyRequest(files=files, message=message, confirm=confirm_seconds or None,
                                             **signed()))


def apply_draft(message: str, confirm_seconds: int | None) -> m.ApplyReply:
    draft = current_draft()
    if draft is None:
        raise errors.NotFound("there is no draft to apply")
    if draft.base != status().running:
        raise StaleDraft(f"the box now runs version {status().running}, not {draft.base}")
    reply = apply_files(draft.files, message or "; ".join(draft.notes) or "web edit", confirm_seconds)
    ctx().drafts.discard(user().name)
    return reply


def may_settle_pending(pending: m.Pending | None, history: list[m.VersionSummary] | None = None) -> bool:
    """Admins confirm or roll back any pending change; operators only their own."""
    if not pending or not roles.can_change(user()):
        return False
    if user().role == "admin":
        return True
    authors = {v.id: v.author for v in (history or ctx().daemon.history())}
    return authors.get(pending.version) == user().name

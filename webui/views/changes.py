"""Changes: review the draft (diff and the daemon's plan), apply it with a confirm countdown,
then confirm or roll back. Admins also edit whole files here."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from .. import roles
from ..changeset import (
    StaleDraft,
    apply_draft,
    current_draft,
    diff_files,
    draft_or_new,
    may_settle_pending,
    save_edit,
)
from ..config_edit import EditError, set_file
from ..context import ctx, post, running_files, status, user
from ..daemon_client import DaemonError
from ..i18n import translate

bp = Blueprint("changes", __name__, url_prefix="/changes")
CONFIRM_CHOICES = (60, 120, 300, 600)


def _confirm_seconds() -> int | None:
    """Admins may apply without a deadline (0); everyone else gets one."""
    try:
        seconds = int(request.form.get("confirm", ctx().settings.default_confirm))
    except ValueError:
        seconds = ctx().settings.default_confirm
    if seconds == 0 and user().role == "admin":
        return None
    return min(max(seconds, 30), 3600)


@bp.route("/")
def index():
    box = status()
    draft = current_draft()
    review = {}
    if draft:
        review["diff"] = diff_files(running_files(), draft.files)
        review["stale"] = draft.base != box.get("running")
        try:
            review["steps"] = ctx().daemon.call("POST", "/plan", {"files": draft.files})["steps"]
        except DaemonError as exc:
            review["error"], review["problems"] = str(exc), exc.problems
    return render_template("changes.html", box=box, draft=draft, review=review, choices=CONFIRM_CHOICES,
                           default_confirm=ctx().settings.default_confirm,
                           may_settle=may_settle_pending(box.get("pending")))


@bp.route("/file", methods=["GET", "POST"])
def edit_file():
    roles.require(user().role == "admin", translate("only admins edit whole files"))
    draft = draft_or_new()
    name = request.values.get("name", "pnsbox.yaml")
    text = request.form.get("text") if request.method == "POST" else draft.files.get(name, "")
    if request.method == "POST":
        try:
            save_edit(set_file(draft.files, name, text), f"{name} edited")
        except EditError as exc:
            flash(str(exc), "error")
            return render_template("file_edit.html", name=name, text=text, files=sorted(draft.files)), 400
        flash(translate("Saved in your draft. Review and apply it below."), "info")
        return redirect(url_for("changes.index"))
    return render_template("file_edit.html", name=name, text=text, files=sorted(draft.files))


@bp.route("/discard", methods=["POST"])
def discard():
    ctx().drafts.discard(user().name)
    flash(translate("Draft discarded."), "info")
    return redirect(url_for("changes.index"))


@bp.route("/apply", methods=["POST"])
def apply():
    roles.require(roles.can_change(user()), translate("auditors cannot change the configuration"))
    try:
        reply = apply_draft(request.form.get("message", "").strip(), _confirm_seconds())
    except StaleDraft as exc:
        flash(translate("Your draft is out of date ({why}). Discard it and edit again.", why=str(exc)), "error")
        return redirect(url_for("changes.index"))
    except LookupError:
        flash(translate("There is no draft to apply."), "error")
        return redirect(url_for("changes.index"))
    except DaemonError as exc:
        return _refused(exc)
    if reply.get("unchanged"):
        flash(translate("Nothing to change: the box already runs this configuration."), "info")
    else:
        flash(translate("Applied as version {version}.", version=reply["version"]), "info")
    return redirect(url_for("changes.index"))


def _refused(exc: DaemonError):
    """Config problems (422) name file, line and field; the draft stays for fixing."""
    if exc.status == 422:
        message = translate("The configuration has problems; nothing was applied.")
    elif exc.status == 403:
        message = translate("Refused: this change would cut your management access. Nothing was changed.")
    elif exc.body.get("rolled_back"):
        message = translate("The change failed its checks and was rolled back.")
    else:
        message = str(exc)
    return render_template("error.html", status=exc.status, message=message, problems=exc.problems,
                           detail=str(exc)), exc.status


@bp.route("/confirm", methods=["POST"])
def confirm():
    pending = status().get("pending")
    roles.require(may_settle_pending(pending), translate("you cannot confirm this change"))
    post("/confirm", {})
    flash(translate("Version {version} confirmed.", version=pending["version"]), "info")
    return redirect(url_for("changes.index"))


@bp.route("/rollback", methods=["POST"])
def rollback():
    """Roll a pending change back now, instead of waiting for its deadline."""
    pending = status().get("pending")
    roles.require(may_settle_pending(pending), translate("you cannot roll back this change"))
    target = pending.get("rollback_to")
    if not target:
        flash(translate("There is no earlier version to go back to."), "error")
        return redirect(url_for("changes.index"))
    try:
        reply = post("/rollback", {"version": target})
    except DaemonError as exc:
        return _refused(exc)
    flash(translate("Rolled back to version {target} (recorded as version {version}).", target=target,
                    version=reply["version"]), "info")
    return redirect(url_for("changes.index"))

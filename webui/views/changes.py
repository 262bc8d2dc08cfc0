"""Changes: review the draft (diff and the daemon's plan), apply it with a confirm countdown,
then confirm or roll back. Admins also edit whole files here."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from pnsbox.control import messages as m
from pnsbox.errors import ChecksFailed, ConfigError, NotFound, PnsboxError, Refused

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
from ..context import ctx, running_files, signed, status, user
from ..i18n import error_text, translate

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
        review["stale"] = draft.base != box.running
        try:
            planned = ctx().daemon.plan(m.PlanRequest(files=draft.files))
            review["steps"], review["warnings"] = planned.steps, planned.warnings
        except PnsboxError as exc:
            review["problems"] = getattr(exc, "problems", [])
            review["error"] = (translate("The configuration has problems; nothing was applied.")
                               if review["problems"] else error_text(exc))
    return render_template("changes.html", box=box, draft=draft, review=review, choices=CONFIRM_CHOICES,
                           default_confirm=ctx().settings.default_confirm,
                           may_settle=may_settle_pending(box.pending))


@bp.route("/file", methods=["GET", "POST"])
def edit_file():
    roles.require(user().role == "admin", translate("only admins edit whole files"))
    draft = draft_or_new()
    name = request.values.get("name", "pnsbox.yaml")
    text = request.form.get("text") if request.method == "POST" else draft.files.get(name, "")
    if request.method == "POST":
        try:
            save_edit(set_file(draft.files, name, text), translate("{name} edited", name=name), validate=False)
        except ConfigError as exc:  # read by pnsbox.load: FILE:LINE as `pnsbox validate` says it; text kept as typed
            return render_template("file_edit.html", name=name, text=text, files=sorted(draft.files),
                                   problems=exc.problems), exc.http_status
        except EditError as exc:
            flash(str(exc), "error")
            return render_template("file_edit.html", name=name, text=text, files=sorted(draft.files)), 400
        flash(translate("Saved in your draft. Review and apply it below."), "info")
        return redirect(url_for("changes.index"))
    return render_template("file_edit.html", name=name, text=text, files=sorted(draft.files))


@bp.route("/acknowledge", methods=["POST"])
def acknowledge():
    """Someone saw the automatic rollback: its alert leaves every page."""
    roles.require(roles.can_change(user()), translate("auditors change nothing"))
    ctx().daemon.acknowledge(m.Signed(**signed()))
    flash(translate("Acknowledged."), "info")
    return redirect(request.referrer if (request.referrer or "").startswith(request.host_url) else
                    url_for("dashboard.index"))


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
    except NotFound:
        flash(translate("There is no draft to apply."), "error")
        return redirect(url_for("changes.index"))
    except (ConfigError, Refused, ChecksFailed) as exc:
        return _refused(exc)
    if reply.unchanged:
        flash(translate("Nothing to change: the box already runs this configuration."), "info")
    else:
        flash(translate("Applied as version {version}.", version=reply.version), "info")
    return redirect(url_for("changes.index"))


def _refused(exc: ConfigError | Refused | ChecksFailed):
    """Config problems name file, line and field; the draft stays for fixing."""
    if isinstance(exc, ConfigError):
        message = translate("The configuration has problems; nothing was applied.")
    elif isinstance(exc, Refused):
        message = translate("Refused: this change would cut your management access. Nothing was changed.")
    else:
        message = translate("The change failed its checks and was rolled back.")
    return render_template("error.html", status=exc.http_status, message=message,
                           problems=getattr(exc, "problems", []), detail=str(exc)), exc.http_status


@bp.route("/confirm", methods=["POST"])
def confirm():
    pending = status().pending
    roles.require(may_settle_pending(pending), translate("you cannot confirm this change"))
    ctx().daemon.confirm(m.ConfirmRequest(**signed()))
    flash(translate("Version {version} confirmed.", version=pending.version), "info")
    return redirect(url_for("changes.index"))


@bp.route("/rollback", methods=["POST"])
def rollback():
    """Roll a pending change back now, instead of waiting for its deadline."""
    pending = status().pending
    roles.require(may_settle_pending(pending), translate("you cannot roll back this change"))
    target = pending.rollback_to
    if not target:
        flash(translate("There is no earlier version to go back to."), "error")
        return redirect(url_for("changes.index"))
    try:
        reply = ctx().daemon.rollback(m.RollbackRequest(version=target, **signed()))
    except (ConfigError, Refused, ChecksFailed) as exc:
        return _refused(exc)
    flash(translate("Rolled back to version {target} (recorded as version {version}).", target=target,
                    version=reply.version), "info")
    return redirect(url_for("changes.index"))

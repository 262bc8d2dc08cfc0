"""History: every applied version, diffs between them, and rollback (admins)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from pnsbox.control import messages as m
from pnsbox.errors import ChecksFailed, ConfigError, Refused

from .. import roles
from ..context import ctx, signed, status, user
from ..i18n import said, translate
from ..paging import page_of
from .changes import CONFIRM_CHOICES, _confirm_seconds, _refused

bp = Blueprint("history", __name__, url_prefix="/history")


def _require_reader():
    roles.require(roles.can_read_history(user()), translate("the history holds every OPD's configuration"))


@bp.route("/")
def index():
    _require_reader()
    versions = list(reversed(ctx().daemon.history()))
    listing = page_of(versions, lambda v: f"{v.id} {v.author} {v.message} {said(v.message, v.message_said)} "
                                          f"{v.rolled_back or ''} "
                                          f"{said(v.rolled_back, v.rolled_back_said) if v.rolled_back else ''}")
    return render_template("history.html", versions=listing.items, listing=listing, box=status())


@bp.route("/<int:version>")
def detail(version: int):
    _require_reader()
    found = ctx().daemon.version(version)
    diff = ctx().daemon.diff(found.parent, version) if found.parent else None
    return render_template("version.html", version=found, diff=diff, box=status())


@bp.route("/diff")
def diff():
    _require_reader()
    try:
        a, b = int(request.args["a"]), int(request.args["b"])
    except (KeyError, ValueError):
        flash(translate("Give two version numbers."), "error")
        return redirect(url_for("history.index"))
    return render_template("diff.html", a=a, b=b, diff=ctx().daemon.diff(a, b))


@bp.route("/<int:version>/rollback", methods=["GET", "POST"])
def rollback(version: int):
    roles.require(user().role == "admin", translate("only admins roll back"))
    if request.method == "GET":  # first what would change, then a button that asks
        running = status().running
        found = ctx().daemon.version(version)
        diff = ctx().daemon.diff(running, version) if running else ""
        return render_template("rollback.html", version=found, diff=diff, choices=CONFIRM_CHOICES,
                               default_confirm=ctx().settings.default_confirm)
    try:
        reply = ctx().daemon.rollback(m.RollbackRequest(version=version, confirm=_confirm_seconds(), **signed()))
    except (ConfigError, Refused, ChecksFailed) as exc:
        return _refused(exc)
    flash(translate("Rolled back to version {target} (recorded as version {version}).", target=version,
                    version=reply.version), "info")
    return redirect(url_for("changes.index"))

"""The audit trail, newest first, with the daemon's verdict on its hash chain."""

from __future__ import annotations

from flask import Blueprint, render_template

from .. import roles
from ..context import ctx, running_site, user
from ..i18n import translate

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.route("/")
def index():
    roles.require(roles.can_read_history(user()), translate("the audit trail is for admins and auditors"))
    entries = list(reversed(ctx().daemon.audit()))
    return render_template("audit.html", entries=entries, verdict=ctx().daemon.audit_verify(),
                           zone=running_site().timezone)

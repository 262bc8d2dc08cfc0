"""Bandwidth at a glance: every visible OPD's guarantee and ceiling against the pipe."""

from __future__ import annotations

from flask import Blueprint, render_template

from .. import roles
from ..context import running_site, user
from ..site import opd_bandwidth

bp = Blueprint("bandwidth", __name__, url_prefix="/bandwidth")


@bp.route("/")
def index():
    site = running_site()
    pipe = site.pipe()
    rows = {name: opd_bandwidth(opd) for name, opd in roles.visible_opds(user(), site).items()}
    totals = {d: sum(r[d]["guaranteed"] for r in rows.values()) for d in ("download", "upload")}
    return render_template("bandwidth.html", site=site, pipe=pipe, rows=rows, totals=totals,
                           oversubscribe=site.oversubscribe)

"""Bandwidth at a glance: every visible OPD's guarantee and ceiling against the pipe."""

from __future__ import annotations

from flask import Blueprint, render_template

from .. import roles
from ..context import running_site, user
from ..site import plan_in_force

bp = Blueprint("bandwidth", __name__, url_prefix="/bandwidth")


@bp.route("/")
def index():
    site = running_site()
    pipe = site.pipe()
    in_force = {name: plan_in_force(site, opd) for name, opd in roles.visible_opds(user(), site).items()}
    rows = {name: plan for name, (plan, _) in in_force.items()}
    windows = {name: window for name, (_, window) in in_force.items() if window}
    totals = {d: sum(r[d]["guaranteed"] for r in rows.values()) for d in ("download", "upload")}
    return render_template("bandwidth.html", site=site, pipe=pipe, rows=rows, totals=totals, windows=windows,
                           oversubscribe=site.oversubscribe)

"""Monthly usage per OPD (kept by pnsboxd across ruleset reloads): auditors and admins see
every OPD, operators their own. A month as a table, and as CSV for a spreadsheet."""

from __future__ import annotations

import csv
import io
import re

from flask import Blueprint, Response, abort, render_template, request

from .. import roles
from ..context import ctx, running_site, user

bp = Blueprint("reports", __name__, url_prefix="/reports")
FIELDS = ("tx_bytes", "tx_packets", "rx_bytes", "rx_packets")


def month_usage(month: str | None) -> dict:
    """The daemon's usage of `month` (None: this month), cut to the OPDs this user may see."""
    if month is not None and not re.fullmatch(r"\d{4}-\d{2}", month):
        abort(400)
    found = ctx().daemon.get("/usage" + (f"?month={month}" if month else ""))
    visible = roles.visible_opds(user(), running_site())
    found["opds"] = {name: row for name, row in found["opds"].items() if name in visible}
    return found


@bp.route("/")
def index():
    found = month_usage(request.args.get("month"))
    totals = {field: sum(row[field] for row in found["opds"].values()) for field in FIELDS}
    return render_template("reports.html", found=found, totals=totals)


@bp.route("/<month>.csv")
def csv_file(month: str):
    found = month_usage(month)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["month", "opd", *FIELDS])
    for name, row in found["opds"].items():
        writer.writerow([found["month"], name, *(row[f] for f in FIELDS)])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=pnsbox-usage-{found['month']}.csv"})

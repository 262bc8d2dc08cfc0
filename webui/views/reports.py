"""The monthly evaluation (pnsboxd's rate series: p95, peaks and when, time near the ceiling,
drops, the province's peak hour; charts; a PDF to print) and the monthly usage book (bytes kept
across ruleset reloads). Auditors and admins see every OPD and the province, operators their own
OPDs only. Tables, CSV for a spreadsheet, PDF in the reader's language."""

from __future__ import annotations

import csv
import io
import re

from flask import Blueprint, Response, abort, render_template, request

from pnsbox.control import messages as m
from pnsbox.errors import NotFound
from pnsbox.report import text as report_text

from .. import roles
from ..context import ctx, running_site, user
from ..i18n import current_language

bp = Blueprint("reports", __name__, url_prefix="/reports")
FIELDS = ("tx_bytes", "tx_packets", "rx_bytes", "rx_packets")


def month_usage(month: str | None) -> dict:
    """The daemon's usage of `month` (None: this month), cut to the OPDs this user may see."""
    if month is not None and not re.fullmatch(r"\d{4}-\d{2}", month):
        abort(400)
    found = m.to_json(ctx().daemon.usage(month))
    visible = roles.visible_opds(user(), running_site())
    found["opds"] = {name: row for name, row in found["opds"].items() if name in visible}
    return found


def month_report(month: str) -> dict | None:
    """The month's evaluation from the daemon (None before its first sample), cut to what this
    user may see: operators get their OPDs only, without the province's section."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        abort(400)
    try:
        found = m.to_json(ctx().daemon.report(month))
    except NotFound:
        return None
    for part in ("province", "categories"):  # present only for who sees the whole province
        if found[part] is None:
            del found[part]
    found["opds"] = {key: row for key, row in found["opds"].items() if roles.can_see_opd(user(), key)}
    if user().role == "operator":
        found.pop("province", None)
        found.pop("categories", None)
    return found


def month_hourly(month: str, key: str) -> dict:
    """One OPD's (`*`: the province's) month hour by hour, for the heatmap and the rate curve."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month) or not re.fullmatch(r"[A-Za-z0-9_-]+|\*", key):
        abort(400)
    if (key == "*" and user().role == "operator") or (key != "*" and not roles.can_see_opd(user(), key)):
        abort(404)
    return m.to_json(ctx().daemon.report_hourly(month, key))


@bp.route("/")
def index():
    found = month_usage(request.args.get("month"))
    totals = {field: sum(row[field] for row in found["opds"].values()) for field in FIELDS}
    evaluation = month_report(found["month"])
    if evaluation:  # months sampled into the series count too
        found["months"] = sorted(set(found["months"]) | set(evaluation["months"]))
    chosen = request.args.get("opd")
    if evaluation and chosen not in evaluation["opds"] and chosen != "*":
        chosen = "*" if "province" in evaluation else next(iter(evaluation["opds"]), None)
    return render_template("reports.html", found=found, totals=totals, evaluation=evaluation, chosen=chosen)


@bp.route("/<month>/evaluation.csv")
def evaluation_csv(month: str):
    found = month_report(month) or abort(404)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(report_text.CSV_HEADER)
    writer.writerows(report_text.csv_rows(found))
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=pnsbox-evaluation-{month}.csv"})


@bp.route("/<month>.pdf")
def pdf_file(month: str):
    from pnsbox.report import pdf

    found = month_report(month) or abort(404)
    keys = [*found["opds"], *(["*"] if "province" in found else [])]
    out = io.BytesIO()
    pdf.write(found, {key: month_hourly(month, key) for key in keys}, out, language=current_language())
    return Response(out.getvalue(), mimetype="application/pdf",
                    headers={"Content-Disposition": f"attachment; filename=pnsbox-evaluation-{month}.pdf"})


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

"""The dashboard: live graphs (the browser polls /api/v1/live) and alerts."""

from __future__ import annotations

from flask import Blueprint, render_template

from pnsbox.control import messages as m

from .. import roles
from ..context import running_site, status, user
from ..i18n import translate

bp = Blueprint("dashboard", __name__)


def alerts(box: m.Status) -> list[tuple[str, str]]:
    """(level, text) for what needs someone's attention."""
    found = []
    if box.pending:
        found.append(("warn", translate("Version {version} waits for a confirm: {seconds} s left, then it is rolled back.",
                                        version=box.pending.version,
                                        seconds=int(box.confirm_seconds_left or 0))))
    if box.drift_repairs:
        found.append(("warn", translate("Drift repaired {count} time(s) since pnsboxd started: someone changed what pnsbox owns in the kernel.",
                                        count=box.drift_repairs)))
    for failure in box.last_check_failures:
        found.append(("error", translate("Check failed: {failure}", failure=failure)))
    if box.classifier and box.classifier.down:
        found.append(("error", translate("Traffic classifier is down: traffic flows unclassified.")))
    if box.last_drift:
        found.append(("warn", translate("Last drift repair: {detail}", detail=box.last_drift["detail"])))
    if box.running is None:
        found.append(("warn", translate("No configuration runs yet.")))
    return found


@bp.route("/")
def index():
    box = status()
    site = running_site()
    opds = roles.visible_opds(user(), site)
    return render_template("dashboard.html", box=box, alerts=alerts(box), site=site, opds=opds, pipe=site.pipe())

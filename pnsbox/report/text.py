"""The monthly report as a terminal table and as CSV rows (the numbers come from compute)."""

from __future__ import annotations

from ..series import DIRECTIONS

CSV_HEADER = ("month", "opd", "direction", "bytes", "average_bps", "p95_bps", "peak_bps", "peak_at", "peak_hour",
              "peak_weekday", "hours_near_ceiling", "drops", "guarantee_bps", "ceiling_bps", "utilisation",
              "top_categories")  # both ways, the same on both rows: "video=12345;web=678"


def mbit(bits: float | None) -> str:
    return "-" if bits is None else f"{bits / 1e6:.1f}"


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return str(count)


def csv_rows(report: dict):
    for key, opd in report["opds"].items():
        for direction in DIRECTIONS:
            row = opd[direction]
            yield (report["month"], key, direction, row["bytes"], round(row["average"]), round(row["p95"]),
                   row["peak"], row["peak_at"] or "", "" if row["peak_hour"] is None else row["peak_hour"],
                   row["peak_weekday"] or "", round(row["hours_near_ceiling"], 2), row["drops"], row["guarantee"],
                   row["ceiling"], "" if row["utilisation"] is None else round(row["utilisation"], 3),
                   ";".join(f"{name}={count}" for name, count, _ in opd.get("categories", [])))


def opd_categories_text(opd: dict) -> str:
    """`video 1.2 GB (83%), web 10.0 MB (1%)`: an OPD's top categories, both ways."""
    return ", ".join(f"{name} {human_bytes(count)}" + (f" ({share:.0%})" if share is not None else "")
                     for name, count, share in opd.get("categories", []))


def table(report: dict) -> str:
    lines = [f"monthly evaluation {report['month']} (rates in Mbit/s; times in the site's clock)", "",
             f"{'OPD':<20}{'dir':<6}{'bytes':>10}{'avg':>8}{'p95':>8}{'peak':>8}  {'peak at':<16}"
             f"{'h≥90%ceil':>10}{'drops':>8}{'p95/guar':>9}"]
    for key, opd in report["opds"].items():
        for direction in DIRECTIONS:
            row = opd[direction]
            when = f"{row['peak_weekday'][:3]} {row['peak_hour']:02d}:00" if row["peak_at"] else "-"
            use = "-" if row["utilisation"] is None else f"{row['utilisation']:.0%}"
            lines.append(f"{key[:19]:<20}{direction:<6}{human_bytes(row['bytes']):>10}{mbit(row['average']):>8}"
                         f"{mbit(row['p95']):>8}{mbit(row['peak']):>8}  {when:<16}"
                         f"{row['hours_near_ceiling']:>10.1f}{row['drops']:>8}{use:>9}")
        if opd.get("categories"):
            lines.append(f"{'':<20}categories: {opd_categories_text(opd)}")
    province = report.get("province")
    if province:
        lines += ["", "province (every OPD together)"]
        for direction in DIRECTIONS:
            row = province[direction]
            lines.append(f"  {direction}: {human_bytes(row['bytes'])}, p95 {mbit(row['p95'])}, peak "
                         f"{mbit(row['peak'])} Mbit/s at {row['peak_at'] or '-'}"
                         + (f" (pipe {mbit(row['ceiling'])})" if row["ceiling"] else ""))
            shares = row.get("shares") or {}
            if shares:
                top = ", ".join(f"{k} {v:.0%}" for k, v in list(shares.items())[:8])
                lines.append(f"    shares in the peak hour ({row['peak_hour_start']}): {top}")
    if report.get("categories"):
        lines += ["", "top categories: " + ", ".join(f"{name} {human_bytes(count)}"
                                                      for name, count in report["categories"])]
    return "\n".join(lines)

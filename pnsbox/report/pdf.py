"""The monthly evaluation as a PDF an office prints (reportlab): a title page with the province
and the month, the province's summary and rate curve, a table of every OPD, then each OPD's
hour-of-day x day heatmap and its rate curve against its guarantee and ceiling. Bahasa
Indonesia by default, English on request."""

from __future__ import annotations

from datetime import datetime

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ..series import DIRECTIONS
from . import compute
from .text import human_bytes, mbit

MONTHS = {"id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
                 "November", "Desember"),
          "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                 "November", "December")}
DAYS = {"id": {"monday": "Senin", "tuesday": "Selasa", "wednesday": "Rabu", "thursday": "Kamis", "friday": "Jumat",
               "saturday": "Sabtu", "sunday": "Minggu"}}
TEXT = {
    "id": {"title": "Evaluasi Bulanan Penggunaan Jaringan", "province": "Provinsi", "month": "Bulan",
           "made": "Dibuat oleh pnsbox pada", "summary": "Ringkasan provinsi", "down": "unduh", "up": "unggah",
           "pipe": "Kapasitas pipa", "peak": "Puncak", "p95": "p95", "avg": "Rata-rata", "bytes": "Volume",
           "at": "pada", "shares": "Bagian tiap OPD pada jam puncak provinsi", "categories": "Kategori aplikasi teratas",
           "opds": "Penggunaan per OPD (Mbit/s)", "dir": "Arah", "peak_at": "Waktu puncak",
           "near": "Jam ≥90% plafon", "drops": "Paket dibuang", "use": "p95/jaminan", "heatmap":
           "Rata-rata unduh per jam (baris: tanggal, kolom: jam)", "curve": "Laju per jam terhadap jaminan dan plafon",
           "guarantee": "jaminan", "ceiling": "plafon", "average": "rata-rata", "hourly_peak": "puncak per jam",
           "none": "Tidak ada data untuk bulan ini.", "opd": "OPD", "total": "Provinsi"},
    "en": {"title": "Monthly Network Usage Evaluation", "province": "Province", "month": "Month",
           "made": "Made by pnsbox on", "summary": "Province summary", "down": "download", "up": "upload",
           "pipe": "Pipe", "peak": "Peak", "p95": "p95", "avg": "Average", "bytes": "Volume", "at": "at",
           "shares": "Each OPD's share in the province's peak hour", "categories": "Top application categories",
           "opds": "Use per OPD (Mbit/s)", "dir": "Direction", "peak_at": "Peak at", "near": "Hours ≥90% ceiling",
           "drops": "Drops", "use": "p95/guarantee", "heatmap": "Average download per hour (rows: day, columns: hour)",
           "curve": "Hourly rate against guarantee and ceiling", "guarantee": "guarantee", "ceiling": "ceiling",
           "average": "average", "hourly_peak": "hourly peak", "none": "No data for this month.", "opd": "OPD",
           "total": "Province"},
}
WIDTH = landscape(A4)[0] - 3 * cm


def month_name(month: str, language: str) -> str:
    year, number = month.split("-")
    return f"{MONTHS[language][int(number) - 1]} {year}"


def weekday(name: str | None, language: str) -> str:
    return DAYS.get(language, {}).get(name or "", name or "")


def heatmap_drawing(grid: list[list[float | None]], width: float = WIDTH, cell_h: float = 9) -> Drawing:
    """Days down, hours across; white is idle, deep blue the OPD's busiest hour of the month."""
    top = max((v for row in grid for v in row if v), default=0) or 1
    label_w, cell_w = 30, (width - 30) / 24
    drawing = Drawing(width, cell_h * len(grid) + 14)
    for hour in range(24):
        drawing.add(String(label_w + hour * cell_w + cell_w / 2, cell_h * len(grid) + 3, f"{hour:02d}", fontSize=6,
                           textAnchor="middle"))
    for day, row in enumerate(grid):
        y = cell_h * (len(grid) - day - 1)
        drawing.add(String(label_w - 4, y + 2, str(day + 1), fontSize=6, textAnchor="end"))
        for hour, value in enumerate(row):
            fill = colors.HexColor("#eeeeee") if value is None else \
                colors.linearlyInterpolatedColor(colors.white, colors.HexColor("#08306b"), 0, 1, value / top)
            drawing.add(Rect(label_w + hour * cell_w, y, cell_w, cell_h, fillColor=fill, strokeColor=colors.white,
                             strokeWidth=0.3))
    return drawing


def curve_drawing(hourly: dict, words: dict, d: int = 0, width: float = WIDTH, height: float = 150) -> Drawing:
    """The month hour by hour (average and hourly peak, Mbit/s) with the guarantee and ceiling."""
    drawing = Drawing(width, height + 20)
    rows = hourly["hours"]
    if not rows:
        return drawing
    start = datetime.strptime(hourly["month"] + "-01 00", "%Y-%m-%d %H")

    def x(stamp: str) -> float:
        return (datetime.strptime(stamp[:13], "%Y-%m-%d %H") - start).total_seconds() / 86400 + 1

    average = [(x(r[0]), r[1 + d] / 1e6) for r in rows]
    peak = [(x(r[0]), r[3 + d] / 1e6) for r in rows]
    days = len(compute.heatmap(hourly))
    end = days + 1  # the whole month, from the 1st
    lines = [peak, average]  # the average drawn over the lighter hourly peak
    styles = [(colors.HexColor("#9ecae1"), words["hourly_peak"]), (colors.HexColor("#2171b5"), words["average"])]
    for i, name in ((1 + 2 * d, "guarantee"), (2 + 2 * d, "ceiling")):
        plans = hourly["plans"]
        if plans and any(p[i] for p in plans):
            steps = []
            for j, plan in enumerate(plans):
                begin = max(1.0, x(plan[0]))
                until = x(plans[j + 1][0]) if j + 1 < len(plans) else end
                steps += [(begin, plan[i] / 1e6), (until, plan[i] / 1e6)]
            lines.append(steps)
            styles.append((colors.HexColor("#238b45") if name == "guarantee" else colors.HexColor("#cb181d"),
                           words[name]))
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 40, 20, width - 60, height - 20
    plot.data = lines
    for i, (color, _) in enumerate(styles):
        plot.lines[i].strokeColor = color
        plot.lines[i].strokeWidth = 0.6 if i == 0 else 1.2
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = 1, end
    plot.xValueAxis.valueSteps = list(range(1, end + 1, 2 if days > 15 else 1))
    plot.xValueAxis.labels.fontSize = plot.yValueAxis.labels.fontSize = 7
    plot.yValueAxis.valueMin = 0
    drawing.add(plot)
    for i, (color, label) in enumerate(styles):
        drawing.add(Line(50 + i * 110, height + 10, 65 + i * 110, height + 10, strokeColor=color, strokeWidth=2))
        drawing.add(String(68 + i * 110, height + 7, label, fontSize=7))
    drawing.add(String(5, height + 7, "Mbit/s", fontSize=7))
    return drawing


def _table(rows: list[list], widths=None, header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    table.setStyle(TableStyle([("FONTSIZE", (0, 0), (-1, -1), 7), ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#deebf7") if header else None),
                               ("ALIGN", (2, 1), (-1, -1), "RIGHT")]))
    return table


def write(report: dict, hourly: dict[str, dict], path, language: str = "id", site: str | None = None,
          compress: bool = True) -> None:
    """The PDF of `report` (compute.month_report) with `hourly` (compute.hourly) per OPD key and `*`."""
    words = TEXT[language]
    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(path if hasattr(path, "write") else str(path), pagesize=landscape(A4), leftMargin=1.5 * cm, rightMargin=1.5 * cm,
                            topMargin=1.2 * cm, bottomMargin=1.2 * cm, title=f"{words['title']} {report['month']}",
                            author="pnsbox", pageCompression=1 if compress else 0)
    centred = {name: ParagraphStyle(f"{name}-centred", parent=styles[name], alignment=TA_CENTER)
               for name in ("Heading1", "Heading2", "Normal")}
    story = [Spacer(1, 4 * cm), Paragraph(words["title"], styles["Title"]), Spacer(1, 0.8 * cm),
             Paragraph(f"{words['province']} {site or report.get('site') or '-'}", centred["Heading1"]),
             Paragraph(month_name(report["month"], language), centred["Heading2"]),
             Spacer(1, 3 * cm), Paragraph(f"{words['made']} {datetime.now():%Y-%m-%d %H:%M}", centred["Normal"]),
             PageBreak()]
    province = report.get("province")
    story.append(Paragraph(words["summary"], styles["Heading1"]))
    if not report["opds"]:
        story.append(Paragraph(words["none"], styles["Normal"]))
    if province:
        rows = [["", words["bytes"], words["avg"], words["p95"], words["peak"], words["peak_at"], words["pipe"]]]
        for name in DIRECTIONS:
            p = province[name]
            rows.append([words[name], human_bytes(p["bytes"]), mbit(p["average"]), mbit(p["p95"]), mbit(p["peak"]),
                         p["peak_at"] or "-", mbit(p["ceiling"]) if p["ceiling"] else "-"])
        story += [_table(rows), Spacer(1, 0.4 * cm)]
        shares = province["down"].get("shares") or {}
        if shares:
            story.append(Paragraph(f"{words['shares']} ({province['down']['peak_hour_start']}, {words['down']})",
                                   styles["Heading3"]))
            story.append(_table([[words["opd"], "%"]] + [[k, f"{v:.0%}"] for k, v in list(shares.items())[:15]],
                                widths=[6 * cm, 2 * cm]))
        if report.get("categories"):
            story.append(Paragraph(words["categories"], styles["Heading3"]))
            story.append(_table([[c, human_bytes(b)] for c, b in report["categories"]], widths=[6 * cm, 3 * cm],
                                header=False))
        if "*" in hourly:
            story += [Paragraph(words["curve"], styles["Heading3"]), curve_drawing(hourly["*"], words)]
    story.append(PageBreak())
    story.append(Paragraph(words["opds"], styles["Heading1"]))
    rows = [[words["opd"], words["dir"], words["bytes"], words["avg"], words["p95"], words["peak"], words["peak_at"],
             words["near"], words["drops"], words["use"]]]
    for key, opd in report["opds"].items():
        for name in DIRECTIONS:
            r = opd[name]
            when = f"{weekday(r['peak_weekday'], language)} {r['peak_at']}" if r["peak_at"] else "-"
            rows.append([key, words[name], human_bytes(r["bytes"]), mbit(r["average"]), mbit(r["p95"]),
                         mbit(r["peak"]), when, f"{r['hours_near_ceiling']:.1f}", r["drops"],
                         "-" if r["utilisation"] is None else f"{r['utilisation']:.0%}"])
    story.append(_table(rows))
    for key, opd in report["opds"].items():
        data = hourly.get(key)
        if not data:
            continue
        story += [PageBreak(), Paragraph(f"{key} — {opd.get('name') or ''}", styles["Heading1"]),
                  Paragraph(words["heatmap"], styles["Heading3"]), heatmap_drawing(compute.heatmap(data)),
                  Paragraph(f"{words['curve']} ({words['down']})", styles["Heading3"]),
                  curve_drawing(data, words, 0, height=110)]
        if opd.get("categories"):  # both ways; the share is of everything the OPD moved
            story += [Paragraph(words["categories"], styles["Heading3"]),
                      _table([[c, human_bytes(b), "-" if share is None else f"{share:.0%}"]
                              for c, b, share in opd["categories"]], widths=[6 * cm, 3 * cm, 2 * cm], header=False)]
    doc.build(story)

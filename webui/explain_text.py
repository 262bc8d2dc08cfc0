"""explain's answer in the reader's language. pnsboxd words it in English (as the CLI prints it);
the page says it in Bahasa Indonesia line by line, and numbers policies by the table's rows
(`policies[7]` is row 8) in either language. A line this table does not know stays as it came."""

from __future__ import annotations

import re

ACTIONS = {"accept": "terima", "reject": "tolak", "drop": "buang"}
DIRECTIONS = {"download": "unduh", "upload": "unggah"}


def _row(text: str, word: str) -> str:
    return re.sub(r"policies\[(\d+)\]", lambda found: f"{word} {int(found.group(1)) + 1}", text)


def _why(text: str) -> str:
    rules = [
        (r"it names no ports or protocols: all traffic", lambda m: "tidak menyebut port atau protokol: semua lalu lintas"),
        (r"it allows the whole protocol (\S+)", lambda m: f"mengizinkan seluruh protokol {m[1]}"),
        (r"(\S+) is among its ports \((.*)\)", lambda m: f"{m[1]} termasuk port-nya ({m[2]})"),
    ]
    return _first(rules, text)


def _shaping(text: str) -> str:
    rules = [
        (r"(\S+) \((download|upload)\): the class selects service (\S+)",
         lambda m: f"{m[1]} ({DIRECTIONS[m[2]]}): kelasnya memilih layanan {m[3]}"),
        (r"(\S+) \((download|upload)\): the class selects (\S+)",
         lambda m: f"{m[1]} ({DIRECTIONS[m[2]]}): kelasnya memilih {m[3]}"),
        (r"(\S+) \((download|upload)\): guaranteed (\S+), ceiling (\S+)",
         lambda m: f"{m[1]} ({DIRECTIONS[m[2]]}): dijamin {m[3]}, batas atas {m[4]}"),
        (r"not shaped by the pipe \(traffic of the box itself\)",
         lambda m: "tidak dibentuk oleh jalur (lalu lintas kotak itu sendiri)"),
        (r"the pipe's unmatched class (\S+) \(no OPD plan covers it\)",
         lambda m: f"kelas sisa jalur {m[1]} (tidak tercakup paket OPD mana pun)"),
        (r"the intranet class (\S+) \(inside the province, not the pipe\)",
         lambda m: f"kelas intranet {m[1]} (di dalam provinsi, bukan jalur)"),
    ]
    return _first(rules, text)


def _what(text: str) -> str:
    return re.sub(r"\b(app|category) ", lambda m: "aplikasi " if m[1] == "app" else "kategori ", text)


LINES = [
    (r"(accept|reject|drop) by policy (\S+) \(baris (\d+)\)",
     lambda m: f"{ACTIONS[m[1]]} oleh kebijakan {m[2]} (baris {m[3]})"),
    (r"(accept|reject|drop) by (.+)", lambda m: f"{ACTIONS[m[1]]} oleh {m[2]}"),
    (r"(accept|reject|drop): no policy matches, the default between zones is deny",
     lambda m: f"{ACTIONS[m[1]]}: tidak ada kebijakan yang cocok; bawaan antar zona adalah tolak"),
    (r"baris (\d+) (\S+) names (\S+) -> (\S+) but not this traffic",
     lambda m: f"baris {m[1]} {m[2]} menyebut {m[3]} -> {m[4]} tetapi bukan lalu lintas ini"),
    (r"baris (\d+) (\S+) would match, but schedule (\S+) is closed now \((.*)\)",
     lambda m: f"baris {m[1]} {m[2]} akan cocok, tetapi jadwal {m[3]} sedang tutup ({m[4]})"),
    (r"baris (\d+) (\S+): from (\S+) to (\S+); (.*)",
     lambda m: f"baris {m[1]} {m[2]}: dari {m[3]} ke {m[4]}; {_why(m[5])}"),
    (r"only while schedule (\S+) is open \(in (\S+)\); outside it the next policies decide( \(open now\))?",
     lambda m: f"hanya selama jadwal {m[1]} buka (zona {m[2]}); di luar itu kebijakan berikutnya yang menentukan"
               + (" (sedang buka)" if m[3] else "")),
    (r"for flows the classifier names (.+): baris (\d+) (\S+) decides first \((\w+)\)",
     lambda m: f"untuk aliran yang dinamai pengklasifikasi {_what(m[1])}: baris {m[2]} {m[3]} menentukan lebih "
               f"dulu ({ACTIONS.get(m[4], m[4])})"),
    (r"site\.management lets (\S+) reach the box on (\S+)",
     lambda m: f"site.management mengizinkan {m[1]} mencapai kotak di {m[2]}"),
    (r"the box answers pings \(rate-limited\) from anywhere",
     lambda m: "kotak menjawab ping (dengan batas laju) dari mana saja"),
    (r"shaped by: (.*)", lambda m: f"dibentuk oleh: {_shaping(m[1])}"),
]


def _first(rules, text: str) -> str:
    for pattern, say in rules:
        found = re.fullmatch(pattern, text)
        if found:
            return say(found)
    return text


def in_language(text: str, lang: str) -> str:
    """The daemon's explain text for a reader of LANG ("id" or "en")."""
    if lang != "id":
        return _row(text, "row")
    out = []
    for line in _row(text, "baris").splitlines():
        indent = re.match(r"\s*(- )?", line).group(0)
        out.append(indent + _first(LINES, line[len(indent):]))
    return "\n".join(out)

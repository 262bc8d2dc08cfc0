"""Every text the UI translates, found in the templates and the code (for the catalog's test)."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).parent
_CALL = re.compile(r"""(?:\b_|\btranslate)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
ROLE_NAMES = {"admin", "operator", "auditor"}  # translated from data: _(user.role)


def texts() -> set[str]:
    found = set()
    for path in [*HERE.glob("templates/*.html"), *HERE.glob("*.py"), *HERE.glob("views/*.py")]:
        for match in _CALL.finditer(path.read_text()):
            found.add(match.group(1) or match.group(2) or "")
    return (found | ROLE_NAMES) - {""}

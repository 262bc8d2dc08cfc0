"""Config problems: every one names the file, the line and the YAML path."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError  # noqa: F401  (raised with these problems; its home is errors.py)


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '(top)'}: {self.message}"



def dotted(path: tuple) -> str:
    """('opds', 'dinkes', 'link') -> 'opds.dinkes.link'; list indices as [i]."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out

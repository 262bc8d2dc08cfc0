"""Domain lists as categories: plain files of one domain per line, `#` comments (the format
of Kominfo's TrustPositif list), each loaded into the catalog category that names it.

An entry matches the domain and every name under it, as the catalog's suffixes do. A list
of a million domains compiles to an open-addressing table of 64-bit name hashes (at most
16 bytes per domain; a lookup finds a false match with odds of about one in 10^13): a
lookup is one hash and a probe or two per label of the name. The hash is Python's own
string hash, fast and cached on the string, but seeded per interpreter: a table is valid in
the process that compiled it and in the workers it forks, which is how pnsbox-classifier
uses it (the header carries a check value, so a table from another process is refused).
The table is a flat file that every worker maps: one copy in memory however many queues,
and a reload maps the new file between two packets (classification never stops).
"""

from __future__ import annotations

import mmap
import os
import re
import tempfile
from array import array
from pathlib import Path

from ..problems import ConfigError, Problem

_LABELS = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*")
_MAGIC = b"PNSLIST2"
_MAX_PROBLEMS = 20
_MASK = (1 << 64) - 1
_COMMENT = re.compile(r"#[^\n]*")
# a line that is neither blank nor one domain (optionally *. or . before, a dot after)
_BAD_LINE = re.compile(r"^(?![ \t]*(?:(?:\*\.|\.)?" + _LABELS.pattern + r"\.?)?[ \t]*\r?$).+$",
                       re.MULTILINE)


def name_hash(name: str) -> int:
    """A 64-bit hash of a domain for this process and its forks; never 0 (0 is empty)."""
    return hash(name) & _MASK or 1


def _check() -> int:
    return name_hash("pnsbox domain list check")


def read_domains(path: Path) -> list[str]:
    """The domains of a list file, lower-cased; every line that is not a domain is a problem
    (raised together as a ConfigError, so a bad file changes nothing)."""
    text = Path(path).read_bytes().decode("utf-8", "replace").lower()
    if "#" in text:
        text = _COMMENT.sub("", text)
    if _BAD_LINE.search(text) is None:   # the common case, checked in one pass
        return [token.strip("*.") for token in text.split()]
    return _read_lines(path)


def _read_lines(path: Path) -> list[str]:
    """Line by line: IDN domains in Unicode converted, every bad line reported."""
    domains: list[str] = []
    problems: list[Problem] = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            entry = line.split("#", 1)[0].strip().lower().rstrip(".")
            if not entry:
                continue
            if entry.startswith(("*.", ".")):
                entry = entry.lstrip("*.")
            if not _LABELS.fullmatch(entry):
                try:
                    entry = entry.encode("idna").decode("ascii")
                except UnicodeError:
                    entry = ""
                if not _LABELS.fullmatch(entry):
                    if len(problems) < _MAX_PROBLEMS:
                        problems.append(Problem(str(path), number, "",
                                                f"{line.strip()[:80]!r} is not a domain"))
                    else:
                        problems[-1] = Problem(str(path), number, "", "more lines are not domains")
                    continue
            domains.append(entry)
    if problems:
        raise ConfigError(problems)
    return domains


def compile_table(domains: list[str]) -> array:
    """Header (magic, check value, slot count) and the slots of an open-addressing table of
    name hashes, linear probing, duplicates stored once."""
    table = _empty_table(len(domains))
    _insert(table, domains)
    return table


def compile_file(path: Path) -> array:
    """The table of a list file, read a megabyte of lines at a time: memory is the table
    and one chunk, not the million strings at once."""
    with open(path, "rb") as file:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b"")) + 1
    table = _empty_table(lines)
    with open(path, encoding="utf-8", errors="replace") as file:
        while chunk := file.readlines(1 << 20):
            text = "".join(chunk).lower()
            if "#" in text:
                text = _COMMENT.sub("", text)
            if _BAD_LINE.search(text) is not None:
                return compile_table(_read_lines(path))  # IDN names to convert, or bad lines to report
            _insert(table, [token.strip("*.") for token in text.split()])
    return table


def _empty_table(entries: int) -> array:
    size = 1 << max(4, (2 * entries).bit_length())   # load factor at most 1/2
    return array("Q", [int.from_bytes(_MAGIC, "little"), _check(), size]) + array("Q", bytes(8 * size))


def _insert(table: array, domains) -> None:
    slots = memoryview(table).cast("B")[24:].cast("Q")
    mask = table[2] - 1
    for domain in domains:
        value = hash(domain) & _MASK or 1
        at = value & mask
        found = slots[at]
        while found and found != value:
            at = (at + 1) & mask
            found = slots[at]
        slots[at] = value
    slots.release()


class DomainTable:
    """Suffix lookups in a compiled table (a file mapped read-only, or bytes)."""

    def __init__(self, buffer):
        view = memoryview(buffer)
        if view.format != "Q":
            view = view.cast("B").cast("Q")
        if len(view) < 3 or view[0] != int.from_bytes(_MAGIC, "little") or len(view) != 3 + view[2]:
            raise ValueError("not a compiled domain list")
        if view[1] != _check():
            raise ValueError("a domain list compiled by another process (its hashes differ)")
        self._buffer = buffer
        self._slots = view[3:]
        self._mask = view[2] - 1

    @classmethod
    def open(cls, path: Path) -> DomainTable:
        with open(path, "rb") as file:
            return cls(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ))

    def __len__(self) -> int:
        return sum(1 for value in self._slots if value)

    def matches(self, name: str) -> bool:
        """True if `name` or a domain it is under is in the list: O(labels)."""
        slots, mask = self._slots, self._mask
        pos = 0
        while True:
            value = hash(name[pos:] if pos else name) & _MASK or 1
            at = value & mask
            found = slots[at]
            while found:
                if found == value:
                    return True
                at = (at + 1) & mask
                found = slots[at]
            pos = name.find(".", pos) + 1
            if pos == 0:
                return False


class Lists:
    """The categories fed by lists, each with its table: the first list that has the name wins."""

    def __init__(self, tables: list[tuple[str, int, DomainTable]]):
        self.tables = tables

    def category_of(self, name: str) -> tuple[str, int] | None:
        for category, category_id, table in self.tables:
            if table.matches(name):
                return category, category_id
        return None

    def __bool__(self) -> bool:
        return bool(self.tables)


def compile_lists(catalog, directory: Path, into: Path) -> dict[str, Path]:
    """Compile the list file of each category that names one (`<directory>/<list>.txt`) to
    `<into>/<category>.idx`, each written whole then renamed over the old. Missing files are
    skipped (the category then has only its applications); bad files raise ConfigError."""
    out = {}
    into.mkdir(parents=True, exist_ok=True)
    for category, list_name in sorted(catalog.category_lists.items()):
        source = Path(directory) / f"{list_name}.txt"
        if not source.is_file():
            continue
        table = compile_file(source)
        fd, temporary = tempfile.mkstemp(dir=into, prefix=f".{category}.")
        with os.fdopen(fd, "wb") as file:
            table.tofile(file)
        target = into / f"{category}.idx"
        os.replace(temporary, target)
        out[category] = target
    return out


def open_lists(catalog, compiled: dict[str, Path]) -> Lists:
    return Lists([(category, catalog.categories[category], DomainTable.open(path))
                  for category, path in sorted(compiled.items())])

"""Parsing a site again after a small edit (pnsboxd): the pieces an earlier parse saw are reused.

A site's `opds:` and `policies:` sections are long lists of items of a line or a few each, and
an edit touches one or two of them. ParseMemo cuts such a section into its items (a line
indented by exactly two spaces starts one: `  name:` under opds, `  - ` under policies), parses
each item on its own (once per distinct text) and the rest of the file, the "skeleton", with the
items' lines left blank so that every line keeps its number. The data, lines and node count
assembled from them are what one parse of the whole text gives (a unit test compares them over
many edits). Whatever it is not sure of goes to the whole parse instead, so problems are always
the whole parse's own: a text with any problem, document markers, a section written in flow
style or with lines at the items' indentation that do not start one, a duplicate name, an item
that is not exactly one entry. An opds/NAME.yaml file is reused whole when its text is unchanged.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping

from .load import MAX_NODES, Budget, _parse

_SECTION = re.compile(r"(opds|policies):[ \t]*(#.*)?\Z")
_ITEM_START = {"opds": re.compile(r"  [^\s#\-?:]"), "policies": re.compile(r"  - ")}


class _Item:
    """One item: its data, its name (opds), the lines of a parse that holds it (path -> (file,
    line); for a policy its paths carry `index`, its place in that parse) with `base` the line
    the item started on there, and the YAML nodes it counts for in the whole parse."""

    __slots__ = ("value", "key", "lines", "base", "index", "_nodes")

    def __init__(self, value, key, lines: dict, base: int, index: int, nodes: int | None = None):
        self.value, self.key, self.lines, self.base, self.index, self._nodes = value, key, lines, base, index, nodes

    @property
    def nodes(self) -> int:
        if self._nodes is None:  # an item kept from a whole parse: counted when first needed
            self._nodes = _count(self.value) + (1 if self.key is not None else 0)
        return self._nodes

    def local(self, path: tuple) -> tuple:
        """A path of the assembled parse as this item's lines key it."""
        return path if self.key is not None else ("policies", self.index, *path[2:])

    def own_paths(self):
        head = ("opds", self.key) if self.key is not None else ("policies", self.index)
        return (p for p in self.lines if p[:2] == head)


class Lines(MutableMapping):
    """The lines of a spliced parse, as the whole parse's dict would hold them: the skeleton's
    own, and each item's moved to where it sits in the file (looked up, not copied: a site of
    1,000 OPDs has 90,000 of them)."""

    def __init__(self, file: str, own: dict, sections: dict[str, list[tuple[int, _Item]]]):
        self._file, self._own, self._extra = file, own, {}
        self._opds = {item.key: (first, item) for first, item in sections.get("opds", [])}
        self._policies = sections.get("policies", [])

    def _find(self, path: tuple):
        if len(path) >= 2 and path[0] == "opds" and self._opds:
            found = self._opds.get(path[1])
        elif len(path) >= 2 and path[0] == "policies" and self._policies and type(path[1]) is int \
                and 0 <= path[1] < len(self._policies):
            found = self._policies[path[1]]
        else:
            found = None
        if found is not None:
            first, item = found
            where = item.lines.get(item.local(path))
            if where is not None:
                return self._file, where[1] - item.base + first
        return self._own.get(path) or self._extra.get(path)

    def __getitem__(self, path):
        found = self._find(tuple(path))
        if found is None:
            raise KeyError(path)
        return found

    def __contains__(self, path) -> bool:
        return self._find(tuple(path)) is not None

    def __setitem__(self, path, where) -> None:  # lines of merged opds/NAME.yaml files
        self._extra[tuple(path)] = where

    def __delitem__(self, path) -> None:
        raise TypeError("a parse's lines are not removed")

    def __iter__(self):
        yield from (p for p in self._own if self._find(p) is not None)
        for _, item in self._opds.values():
            yield from item.own_paths()
        for index, (_, item) in enumerate(self._policies):
            yield from (("policies", index, *p[2:]) for p in item.own_paths())
        yield from (p for p in self._extra if p not in self._own)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class ParseMemo:
    """What earlier parses saw, for the next one; kept for the last two loads of a site (the
    running version's and the one after it), so memory stays at about two sites' worth."""

    def __init__(self):
        self._current: dict = {}
        self._previous: dict = {}

    def loaded(self) -> None:
        """A site's files were all parsed: what this load used is kept, with the last load's."""
        self._previous, self._current = self._current, {}

    def _get(self, key):
        found = self._current.get(key)
        if found is None:
            found = self._previous.get(key)
            if found is not None:
                self._current[key] = found
        return found

    def parse(self, text: str, file: str, prefix: tuple, budget: Budget | None):
        """(data, lines, problems) as load._parse would give them, or None: parse it whole."""
        if prefix:
            return self._whole(text, file, prefix, budget)
        return self._spliced(text, file, budget)

    def _whole(self, text: str, file: str, prefix: tuple, budget: Budget | None):
        key = ("whole", text, file, prefix)
        found = self._get(key)
        if found is None:
            counted = Budget(MAX_NODES)
            data, lines, problems = _parse(text, file, prefix, counted)
            if problems or data is None:
                return None
            found = (data, lines, MAX_NODES - counted.nodes)
            self._current[key] = found
        data, lines, nodes = found
        return _charged(budget, nodes, (data, lines, []))

    def _item(self, section: str, text: str) -> _Item | None:
        key = (section, text)
        found = self._get(key)
        if found is not None:
            return found
        counted = Budget(MAX_NODES)
        data, lines, problems = _parse(text, "", (section,), counted, depth=1)
        if problems:
            return None
        if section == "opds" and isinstance(data, dict) and len(data) == 1:
            name = next(iter(data))
            value = data[name]
        elif section == "policies" and isinstance(data, list) and len(data) == 1:
            name, value = None, data[0]
        else:
            return None
        # base 1: the item's own text starts on line 1; its root stands for the section's, counted once
        item = _Item(value, name, lines, 1, 0, MAX_NODES - counted.nodes - 1)
        self._current[key] = item
        return item

    def _spliced(self, text: str, file: str, budget: Budget | None):
        rows = text.split("\n")
        found = _sections(rows)
        if found is None:
            return None
        texts = {name: ["\n".join(rows[first:last]) + "\n" for first, last in spans] for name, spans in found.items()}
        unseen = sum(1 for name, items in texts.items() for item in items if self._get((name, item)) is None)
        if unseen > max(20, sum(map(len, texts.values())) // 10):
            # Mostly new (pnsboxd's first apply): one parse of the whole text is quicker than
            # thousands of small ones; its pieces are kept for the next parse.
            data, lines, problems = _parse(text, file, (), budget)
            if not problems and isinstance(data, dict):
                self._seed(found, texts, data, lines)
            return data, lines, problems
        skeleton = list(rows)
        sections: dict[str, list[tuple[int, _Item]]] = {}
        for name, spans in found.items():
            items = []
            for (first, last), item_text in zip(spans, texts[name], strict=True):
                item = self._item(name, item_text)
                if item is None:
                    return None
                items.append((first + 1, item))
                skeleton[first:last] = [""] * (last - first)
            sections[name] = items
        counted = Budget(MAX_NODES)
        data, lines, problems = _parse("\n".join(skeleton), file, (), counted)
        if problems or not isinstance(data, dict):
            return None
        nodes = MAX_NODES - counted.nodes
        for name, items in sections.items():
            if not items:
                continue
            if name not in data or data[name] is not None:
                return None
            if name == "opds":
                value = {item.key: item.value for _, item in items}
                if len(value) < len(items):
                    return None  # a name given twice: the whole parse says where
            else:
                value = [item.value for _, item in items]
            data[name] = value
            nodes += sum(item.nodes for _, item in items)
        return _charged(budget, nodes, (data, Lines(file, lines, sections), []))

    def _seed(self, found: dict, texts: dict, data: dict, lines: dict) -> None:
        """Keep the items of a whole parse as if each had been parsed alone, when the text's
        items are plainly the data's (they share that parse's lines: nothing is copied)."""
        for name, spans in found.items():
            value = data.get(name)
            if not spans or not isinstance(value, (dict, list)) or len(value) != len(spans):
                continue
            entries = value.items() if isinstance(value, dict) else ((None, v) for v in value)
            for index, ((first, _), item_text, (key, item)) in enumerate(zip(spans, texts[name], entries, strict=True)):
                if key is not None and not item_text.startswith(f"  {key}:"):
                    break
                self._current[(name, item_text)] = _Item(item, key, lines, first + 1, index)


def _count(value) -> int:
    """The YAML nodes a parsed value stands for (keys too), as load counts them."""
    if isinstance(value, dict):
        return 1 + sum(1 + _count(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_count(v) for v in value)
    return 1


def _sections(rows: list[str]) -> dict[str, list[tuple[int, int]]] | None:
    """Each `opds:` and `policies:` section's items as row spans [first, last), or None when the
    text is not plainly laid out (then it is parsed whole)."""
    found: dict[str, list[tuple[int, int]]] = {}
    index = 0
    while index < len(rows):
        row = rows[index]
        if row.startswith(("---", "...", "%")) or "\r" in row:
            return None
        header = _SECTION.match(row)
        index += 1
        if header is None:
            continue
        name = header.group(1)
        if name in found:
            return None
        starts, end = _item_rows(rows, index, _ITEM_START[name])
        if starts is None:
            return None
        found[name] = [(first, starts[n + 1] if n + 1 < len(starts) else end) for n, first in enumerate(starts)]
        index = end
    return found


def _item_rows(rows: list[str], start: int, item_start: re.Pattern) -> tuple[list[int] | None, int]:
    """The rows that start a section's items, and the row after the section; None when a row
    in it is neither blank, a comment, an item's start nor deeper than the items."""
    starts = []
    index = start
    while index < len(rows):
        row = rows[index]
        if row[:1] not in ("", " ", "#"):
            break
        stripped = row.lstrip(" ")
        if item_start.match(row):
            starts.append(index)
        elif stripped and not stripped.startswith("#") and (not starts or not row.startswith("   ")):
            return None, index
        index += 1
    return starts, index


def _charged(budget: Budget | None, nodes: int, result):
    """The nodes a parse would have used, taken from the site's budget; None (parse it whole,
    to be refused with the whole parse's words) when they do not fit."""
    budget = budget if budget is not None else Budget()
    if nodes > budget.nodes:
        return None
    budget.nodes -= nodes
    return result

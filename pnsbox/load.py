"""YAML files -> plain data plus the file and line of every value.

The only code that knows YAML. A site is a directory holding `pnsbox.yaml`;
OPDs may be split out into `opds/*.yaml`, each a mapping of OPD name -> OPD.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .errors import ConfigError
from .problems import Problem, dotted
from .sitefiles import MAIN_FILE, MAX_FILE_BYTES, check_site_files, decode, read_site  # noqa: F401  (used here and by callers)
from .wording import say

if TYPE_CHECKING:
    from .parse_memo import ParseMemo


@dataclass
class Source:
    """Loaded data and where each value came from."""

    data: dict
    lines: dict[tuple, tuple[str, int]] = field(default_factory=dict)  # or a parse_memo.Lines
    main_file: str = MAIN_FILE
    problems: list[Problem] = field(default_factory=list)  # found while loading; reported with the rest

    def where(self, path: tuple) -> tuple[str, int]:
        """File and line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), (self.main_file, 0))

    def problem(self, path: tuple, message: str) -> Problem:
        file, line = self.where(path)
        return Problem(file, line, dotted(path), message)


# Bounds on what one parse may cost: linear in the text, so time and memory stay bounded
# whatever a file (or a request to pnsboxd, or a web UI edit) holds. A site of 1,000 OPDs is
# about 0.6 MB and 90,000 YAML events.
MAX_NODES = 250_000  # per site, all its files together (1,000 OPDs of bench/scale.py: 90,000)
MAX_DEPTH = 24  # a site nests about 8 levels deep
_STR, _MERGE = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {"tag:yaml.org,2002:" + t for t in ("null", "bool", "int", "float", "str", "timestamp")}
_COLLECTION_TAGS = {None, "!", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}
_NOT_A_KEY = object()


class _Refused(Exception):
    """The text is not a site file we parse (syntax, aliases, too big or too deep): one problem."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


class Budget:
    """Nodes left for the whole site (shared by its files)."""

    def __init__(self, nodes: int = MAX_NODES):
        self.nodes = nodes


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, max(0, index)) + 1


def _scalar(loader, event, memo: dict):
    """A scalar's value as SafeLoader would construct it; plain scalars are resolved once per text."""
    plain = event.implicit[0] and event.tag is None
    if plain:
        known = memo.get(event.value, memo)
        if known is not memo:
            return known
    if plain:  # the resolver's own table, without its per-call overhead
        tag = next((tag for tag, pattern in loader.yaml_implicit_resolvers.get(event.value[:1], ())
                    if pattern.match(event.value)), _STR)
    else:
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit) if event.tag in (None, "!") else event.tag
    if tag == _STR:
        return event.value
    if tag == _MERGE:
        raise _Refused(event.start_mark.line + 1, say("config.yaml.merge_key"))
    if tag not in _SCALAR_TAGS:
        raise _Refused(event.start_mark.line + 1, say("config.yaml.tag", tag=str(event.tag)))
    value = loader.yaml_constructors[tag](loader, yaml.ScalarNode(tag, event.value, event.start_mark,
                                                                  event.end_mark, event.style))
    if plain:
        memo[event.value] = value
    return value


class _Frame:
    """A mapping or sequence being built; for a mapping, the key waiting for its value."""

    __slots__ = ("value", "path", "key", "key_line")

    def __init__(self, value, path):
        self.value, self.path, self.key, self.key_line = value, path, None, 0


def _build(loader, file: str, prefix: tuple, budget: Budget, lines: dict, problems: list, depth: int = 0) -> object:
    """One document from the parser's events, iteratively: bounded depth and node count, no
    anchors or aliases (nothing a site needs, and how a few hundred bytes expand to gigabytes),
    lines recorded for every value, duplicate keys refused."""
    memo: dict = {}
    stack: list[_Frame] = []
    root = _NOT_A_KEY
    loader.get_event()  # StreamStart
    if loader.check_event(yaml.StreamEndEvent):
        return None
    loader.get_event()  # DocumentStart
    while True:
        event = loader.get_event()
        kind = type(event)
        if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            done = stack.pop()
            value = done.value
            start = None
        else:
            line = event.start_mark.line + 1
            if kind is yaml.AliasEvent or getattr(event, "anchor", None) is not None:
                raise _Refused(line, say("config.yaml.alias"))
            budget.nodes -= 1
            if budget.nodes < 0:
                raise _Refused(line, say("config.yaml.too_many", most=f"{MAX_NODES:,}"))
            parent = stack[-1] if stack else None
            is_key = parent is not None and isinstance(parent.value, dict) and parent.key is None
            if kind is yaml.ScalarEvent:
                value = _scalar(loader, event, memo)
                start = None
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if event.tag not in _COLLECTION_TAGS:
                    raise _Refused(line, say("config.yaml.tag", tag=str(event.tag)))
                if len(stack) + depth >= MAX_DEPTH:
                    raise _Refused(line, say("config.yaml.too_deep", most=MAX_DEPTH))
                start = {} if kind is yaml.MappingStartEvent else []
                value = start
            else:
                raise _Refused(line, say("config.yaml.unexpected", event=kind.__name__))
            if is_key:
                parent.key_line = line
                path = None  # a key that is a collection: refused when it ends
            elif parent is None:
                path = prefix
            elif parent.path is None or parent.key is _NOT_A_KEY:
                path = None  # inside something refused: no lines
            else:
                path = parent.path + (len(parent.value) if isinstance(parent.value, list) else parent.key,)
            if path is not None:
                lines[path] = (file, line)
            if start is not None:
                stack.append(_Frame(start, path))
                continue
        # `value` is complete: place it in its parent
        if not stack:
            root = value
            break
        parent = stack[-1]
        if isinstance(parent.value, list):
            parent.value.append(value)
        elif parent.key is None:
            if isinstance(value, (str, int, float, bool)):
                parent.key = str(value)
            else:
                parent.key = _NOT_A_KEY
                problems.append(Problem(file, parent.key_line, dotted(parent.path or ()),
                                        say("config.yaml.key_not_scalar")))
            if parent.key is not _NOT_A_KEY and parent.key in parent.value:
                first = lines.get((parent.path or ()) + (parent.key,), (file, 0))[1]
                problems.append(Problem(file, parent.key_line, dotted((parent.path or ()) + (parent.key,)),
                                        say("config.yaml.duplicate_key", first=first)))
                parent.key = _NOT_A_KEY
        else:
            if parent.key is not _NOT_A_KEY:
                parent.value[parent.key] = value
                if parent.path is not None:
                    lines[parent.path + (parent.key,)] = (file, parent.key_line)
            parent.key = None
    loader.get_event()  # DocumentEnd
    if not loader.check_event(yaml.StreamEndEvent):
        raise _Refused(loader.peek_event().start_mark.line + 1, say("config.yaml.second_document"))
    return root


def parse_yaml(text: str, file: str, prefix: tuple = (), budget: Budget | None = None,
               memo: ParseMemo | None = None) -> tuple[object, dict, list[Problem]]:
    """Parse one YAML document; returns (data, lines, problems). Data is None when the text
    could not be parsed (its one problem says why). With a `memo` (pnsboxd keeps one), the
    pieces of the text that an earlier parse saw are not parsed again (see ParseMemo)."""
    if memo is not None and len(text) <= MAX_FILE_BYTES:
        found = memo.parse(text, file, prefix, budget)
        if found is not None:
            return found
    return _parse(text, file, prefix, budget)


def _parse(text: str, file: str, prefix: tuple = (), budget: Budget | None = None, depth: int = 0,
           ) -> tuple[object, dict, list[Problem]]:
    lines: dict = {}
    problems: list[Problem] = []
    if len(text) > MAX_FILE_BYTES:
        return None, lines, [Problem(file, 0, dotted(prefix), say("config.file.too_large_text",
                                                                  size=f"{len(text):,}", mib=MAX_FILE_BYTES >> 20))]
    loader = None
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)  # the C parser when libyaml is there
        data = _build(loader, file, prefix, budget or Budget(), lines, problems, depth)
        if data is None:
            return {}, {prefix: (file, 1)}, []
    except _Refused as exc:
        return None, lines, [Problem(file, exc.line, dotted(prefix), exc.message)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        what = exc.problem or str(exc)
        return None, lines, [Problem(file, line, dotted(prefix), say("config.yaml.syntax", what=str(what)))]
    except yaml.YAMLError as exc:  # the reader: a character YAML does not allow
        position = getattr(exc, "position", None)
        line = _line_at(text, position) if isinstance(position, int) else 0
        return None, lines, [Problem(file, line, dotted(prefix), say("config.yaml.error", what=str(exc)))]
    except UnicodeEncodeError as exc:  # text with lone surrogates (JSON can carry them)
        return None, lines, [Problem(file, _line_at(text, exc.start), dotted(prefix), say("config.file.surrogate"))]
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines, problems


def load_text(text: str, file: str = MAIN_FILE) -> Source:
    """Load a single-document site from text (tests, the web UI)."""
    data, lines, problems = parse_yaml(text, file)
    _require_mapping(data, file, (), problems)
    if data is None or not isinstance(data, dict):
        raise ConfigError(problems)
    return Source(data, lines, file, problems)


def _require_mapping(data, file, path, problems):
    if data is not None and not isinstance(data, dict):
        problems.append(Problem(file, 1, dotted(path), say("config.yaml.not_mapping")))


def load_site(directory: str | Path) -> Source:
    """Load `DIR/pnsbox.yaml` and any `DIR/opds/*.yaml` into one Source."""
    directory = Path(directory)
    main = directory / MAIN_FILE if directory.is_dir() else directory
    return load_files(read_site(directory), str(main.parent))


def load_files(files: dict[str, str], where: str = "", memo: ParseMemo | None = None) -> Source:
    """Load a site from its files' text (as read_site gives them, or as the CLI and the web UI
    send them to pnsboxd). Problems name the files as `where/NAME`. pnsboxd passes its memo:
    what the last loads parsed is not parsed again."""
    try:
        return _load_files(files, where, memo)
    finally:
        if memo is not None:
            memo.loaded()


def _load_files(files: dict[str, str], where: str, memo: ParseMemo | None) -> Source:
    budget = Budget()
    label = {name: str(Path(where, name)) if where else name for name in files}
    data, lines, problems = parse_yaml(files[MAIN_FILE], label[MAIN_FILE], (), budget, memo)
    _require_mapping(data, label[MAIN_FILE], (), problems)
    if data is None or not isinstance(data, dict):
        raise ConfigError(problems)
    source = Source(data, lines, label[MAIN_FILE], problems)
    unparsed = False
    for name in sorted(n for n in files if n != MAIN_FILE):
        unparsed |= not _merge_opd_file(source, files[name], label[name], budget, problems, memo)
    if unparsed:
        raise ConfigError(problems)
    return source


def _merge_opd_file(source: Source, text: str, file: str, budget: Budget, problems: list[Problem],
                    memo: ParseMemo | None = None) -> bool:
    """Merge one opds/NAME.yaml into the source; False when it could not be parsed."""
    data, lines, found = parse_yaml(text, file, ("opds",), budget, memo)
    problems += found
    if data is None:
        return False
    if not isinstance(data, dict):
        problems.append(Problem(file, 1, "opds", say("config.yaml.opd_file_not_mapping")))
        return True
    opds = source.data.setdefault("opds", {})
    if not isinstance(opds, dict):
        return True  # the main file's own error about `opds` is reported by validation
    merged = set()
    for name, value in data.items():
        if name in opds:
            first_file, first_line = source.where(("opds", name))
            problems.append(Problem(file, lines[("opds", name)][1], f"opds.{name}",
                                    say("config.opd.twice", where=f"{first_file}:{first_line}")))
            continue
        opds[name] = value
        merged.add(name)
    for path, where in lines.items():  # only the OPDs taken from this file: a refused twin's lines are not theirs
        if len(path) > 1 and path[1] in merged:
            source.lines.setdefault(path, where)
    return True

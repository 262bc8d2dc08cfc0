"""YAML files -> plain data plus the file and line of every value.

The only code that knows YAML. A site is a directory holding `pnsbox.yaml`;
OPDs may be split out into `opds/*.yaml`, each a mapping of OPD name -> OPD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .problems import ConfigError, Problem, dotted

MAIN_FILE = "pnsbox.yaml"
# The only file names a site has: what the daemon accepts from the CLI and the web UI.
SITE_FILE = re.compile(r"pnsbox\.yaml|opds/[a-z0-9][a-z0-9_-]{0,63}\.yaml")


def check_site_files(files) -> dict[str, str]:
    """A site's files as sent over the control API, or ValueError naming what is wrong."""
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ValueError("`files` must map file names to their text")
    wrong = sorted(name for name in files if not SITE_FILE.fullmatch(name))
    if wrong:
        raise ValueError(f"not a site file name: {', '.join(wrong)} (a site holds pnsbox.yaml and opds/NAME.yaml)")
    if MAIN_FILE not in files:
        raise ValueError("a site needs pnsbox.yaml")
    return files


@dataclass
class Source:
    """Loaded data and where each value came from."""

    data: dict
    lines: dict[tuple, tuple[str, int]] = field(default_factory=dict)
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


def _scalar(loader, node: yaml.ScalarNode):
    return loader.construct_object(node, deep=True)


def _convert(loader, node, path, file, lines, problems):
    """Walk a composed YAML node, recording lines and refusing duplicate keys."""
    lines[path] = (file, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, (str, int, float, bool)):
                problems.append(Problem(file, key_node.start_mark.line + 1, dotted(path),
                                        "mapping keys must be plain scalars"))
                continue
            key = str(key)
            if key in out:
                first = lines[path + (key,)][1]
                problems.append(Problem(file, key_node.start_mark.line + 1, dotted(path + (key,)),
                                        f"duplicate key (first given on line {first})"))
                continue
            out[key] = _convert(loader, value_node, path + (key,), file, lines, problems)
            lines[path + (key,)] = (file, key_node.start_mark.line + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, path + (i,), file, lines, problems)
                for i, item in enumerate(node.value)]
    return _scalar(loader, node)


def parse_yaml(text: str, file: str, prefix: tuple = ()) -> tuple[object, dict, list[Problem]]:
    """Parse one YAML document; returns (data, lines, problems)."""
    lines: dict = {}
    problems: list[Problem] = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)  # the C parser when libyaml is there
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, {prefix: (file, 1)}, []
        data = _convert(loader, node, prefix, file, lines, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        what = exc.problem or str(exc)
        return None, lines, [Problem(file, line, dotted(prefix), f"YAML syntax error: {what}")]
    except yaml.YAMLError as exc:
        return None, lines, [Problem(file, 0, dotted(prefix), f"YAML error: {exc}")]
    finally:
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
        problems.append(Problem(file, 1, dotted(path), "must be a mapping"))


def load_site(directory: str | Path) -> Source:
    """Load `DIR/pnsbox.yaml` and any `DIR/opds/*.yaml` into one Source."""
    directory = Path(directory)
    main = directory / MAIN_FILE if directory.is_dir() else directory
    if not main.is_file():
        raise ConfigError([Problem(str(main), 0, "", "no such config file")])
    problems: list[Problem] = []
    data, lines, found = parse_yaml(main.read_text(), str(main))
    problems += found
    _require_mapping(data, str(main), (), problems)
    if data is None or not isinstance(data, dict):
        raise ConfigError(problems)
    source = Source(data, lines, str(main), problems)

    opd_dir = main.parent / "opds"
    for part in sorted(opd_dir.glob("*.yaml")) if opd_dir.is_dir() else []:
        _merge_opd_file(source, part, problems)
    if any("syntax error" in p.message for p in problems):
        raise ConfigError(problems)
    return source


def _merge_opd_file(source: Source, part: Path, problems: list[Problem]) -> None:
    data, lines, found = parse_yaml(part.read_text(), str(part), ("opds",))
    problems += found
    if data is None:
        return
    if not isinstance(data, dict):
        problems.append(Problem(str(part), 1, "opds", "must be a mapping of OPD name to OPD"))
        return
    opds = source.data.setdefault("opds", {})
    if not isinstance(opds, dict):
        return  # the main file's own error about `opds` is reported by validation
    for name, value in data.items():
        if name in opds:
            first_file, first_line = source.where(("opds", name))
            problems.append(Problem(str(part), lines[("opds", name)][1], f"opds.{name}",
                                    f"OPD defined twice (also at {first_file}:{first_line})"))
            continue
        opds[name] = value
    for path, where in lines.items():
        if path != ("opds",):
            source.lines.setdefault(path, where)

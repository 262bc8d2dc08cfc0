"""A site's files as text: their names, their size, their encoding. Reading them needs no YAML
(the CLI's unchanged apply reads them and compares, without importing the parser)."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import BadRequest, ConfigError
from .problems import Problem
from .wording import say

MAIN_FILE = "pnsbox.yaml"
# The only file names a site has: what the daemon accepts from the CLI and the web UI.
SITE_FILE = re.compile(r"pnsbox\.yaml|opds/[a-z0-9][a-z0-9_-]{0,63}\.yaml")
MAX_FILE_BYTES = 8 << 20  # per file: a site of 1,000 OPDs is about 0.6 MB


def check_site_files(files) -> dict[str, str]:
    """A site's files as sent over the control API, or BadRequest naming what is wrong."""
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise BadRequest("`files` must map file names to their text")
    wrong = sorted(name for name in files if not SITE_FILE.fullmatch(name))
    if wrong:
        raise BadRequest(f"not a site file name: {', '.join(wrong)} (a site holds pnsbox.yaml and opds/NAME.yaml)")
    if MAIN_FILE not in files:
        raise BadRequest("a site needs pnsbox.yaml")
    return files


def decode(data: bytes, file: str) -> str:
    """UTF-8 bytes -> text, or a ConfigError naming the line of the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError([Problem(file, line, "", say("config.file.not_utf8", byte=f"0x{data[exc.start]:02x}",
                                                       column=column))]) from None


def read_site(directory: str | Path) -> dict[str, str]:
    """The files that make a site, by name relative to it (pnsbox.yaml, opds/NAME.yaml), as
    text; a file too large or not UTF-8 is a ConfigError naming it (and the line)."""
    directory = Path(directory)
    main = directory / MAIN_FILE if directory.is_dir() else directory
    if not main.is_file():
        raise ConfigError([Problem(str(main), 0, "", say("config.file.missing"))])
    opd_dir = main.parent / "opds"
    paths = {MAIN_FILE: main, **{f"opds/{part.name}": part
                                 for part in (sorted(opd_dir.glob("*.yaml")) if opd_dir.is_dir() else [])}}
    files, problems = {}, []
    for name, path in paths.items():
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                raise ConfigError([Problem(str(path), 0, "", say("config.file.too_large",
                                                                 mib=MAX_FILE_BYTES >> 20))])
            files[name] = decode(data, str(path))
        except ConfigError as exc:
            problems += exc.problems
        except OSError as exc:
            problems.append(Problem(str(path), 0, "", say("config.file.unreadable", why=exc.strerror)))
    if problems:
        raise ConfigError(problems)
    return files

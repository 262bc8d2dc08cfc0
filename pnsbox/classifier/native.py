"""Whether the classifier's hot path runs compiled, and the switch back to pure Python.

`make setup` compiles the modules a new flow's packet goes through (HOT_PATH) with mypyc into
extension modules beside their sources (tools/build_native.py; never committed). Python then
imports the extension module in place of the .py. The .py files stay the reference: with
PNSBOX_PURE_PYTHON=1 in the environment the sources are imported even where a compiled module
sits beside them (the parity tests run both), and where the build failed or never ran the
sources are all there is. A source edited after the build is imported as source too (its
compiled module would be the old code) until `make native` builds again.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

PACKAGE = "pnsbox.classifier"
# the parsers a new flow's first packets go through, and the engine around them; a compiled
# class takes no subclass from interpreted code, and its attributes' types are checked
HOT_PATH = ("wire", "tls", "quic", "dns", "packet", "verdict", "flows", "lookup", "engine")
PURE_ENV = "PNSBOX_PURE_PYTHON"
_HERE = Path(__file__).resolve().parent


class _SourcesFirst:
    """A meta path finder that answers the hot-path modules with their .py source."""

    names = {f"{PACKAGE}.{name}": _HERE / f"{name}.py" for name in HOT_PATH}

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        source = cls.names.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


_why_pure = ""


def _stale() -> bool:
    """Whether a source was edited after its module was compiled (the old build would run)."""
    for name in HOT_PATH:
        source = _HERE / f"{name}.py"
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            built = _HERE / f"{name}{suffix}"
            if built.exists() and built.stat().st_mtime < source.stat().st_mtime:
                return True
    return False


def choose() -> None:
    """Called by the package before it imports the hot path: the sources when asked for, or
    when a compiled module is older than its source."""
    global _why_pure
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        _why_pure = f"{PURE_ENV} is set"
    elif _stale():
        _why_pure = "the compiled modules are older than their sources: run `make native`"
    if _why_pure and _SourcesFirst not in sys.meta_path:
        sys.meta_path.insert(0, _SourcesFirst)


def compiled_modules() -> list[str]:
    """The hot-path modules loaded as compiled extension modules (imports them)."""
    out = []
    for name in HOT_PATH:
        module = importlib.import_module(f"{PACKAGE}.{name}")
        origin = getattr(module, "__file__", "") or ""
        if origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            out.append(name)
    return out


def describe() -> str:
    """One line for the classifier's start and --version: compiled or pure Python, and why."""
    done = compiled_modules()
    if done and len(done) == len(HOT_PATH):
        return f"hot path compiled (mypyc: {', '.join(done)})"
    if _why_pure:
        return f"hot path pure Python ({_why_pure})"
    if done:
        return f"hot path partly compiled ({', '.join(done)}), the rest pure Python"
    return "hot path pure Python (no compiled modules: run `make native`, which needs mypy and a C compiler)"

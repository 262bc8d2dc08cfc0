"""Compile the classifier's hot path (pnsbox.classifier.native.HOT_PATH) with mypyc, in place.

    .venv/bin/python tools/build_native.py

Writes the extension modules beside their sources (pnsbox/classifier/*.so) and the generated C
under build/native (both git-ignored). The .py sources stay the reference; see native.py.
Exit status 0 when every module was built; otherwise a line saying why, and the classifier
runs in pure Python as before.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    os.chdir(ROOT)
    # native.py by its path: the package itself needs the venv's dependencies
    spec = importlib.util.spec_from_file_location("native", ROOT / "pnsbox" / "classifier" / "native.py")
    native = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(native)
    HOT_PATH, PACKAGE = native.HOT_PATH, native.PACKAGE

    try:
        from mypyc.build import mypycify
        from setuptools import setup
    except ImportError as exc:
        print(f"build_native: not compiled, the classifier stays pure Python ({exc})")
        return 1
    sources = [str(Path(*PACKAGE.split("."), f"{name}.py")) for name in HOT_PATH]
    # one shared library for the group, so calls between its modules are native calls;
    # imports outside the group (catalog, model, ...) are read but not type-checked
    try:  # mypyc exits on a type error; setuptools on a compiler error
        modules = mypycify(["--follow-imports=silent", *sources], opt_level="3",
                           group_name=f"{PACKAGE}.hotpath", target_dir="build/native")
        setup(name="pnsbox-native", ext_modules=modules, script_args=[
            "-q", "build_ext", "--inplace", "--build-temp", "build/native/temp",
            "--build-lib", "build/native/lib"])
    except (SystemExit, Exception) as exc:
        why = "mypyc or the C compiler failed, above" if isinstance(exc, SystemExit) else exc
        print(f"build_native: not compiled, the classifier stays pure Python ({why})")
        return 1
    # setuptools skips a module whose C is unchanged and copies it with its old time; native.py
    # takes a module older than its source for stale, so the copies get the build's time
    for built in Path(*PACKAGE.split(".")).glob("*.so"):
        os.utime(built)
    return 0


if __name__ == "__main__":
    sys.exit(main())

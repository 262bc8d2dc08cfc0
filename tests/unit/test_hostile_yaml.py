"""Hostile site files: refused with FILE:LINE and exit 1, in bounded time and memory, never a traceback."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pnsbox.load import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, load_files, load_text
from pnsbox.problems import ConfigError

PNSBOX = [sys.executable, "-m", "pnsbox.cli"]


def alias_bomb(levels: int = 8) -> str:
    """`levels` nested aliases of nine: 9**(levels + 1) strings once expanded, a few hundred bytes."""
    lines = ["x0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels + 1):
        lines.append(f"x{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def run_cli(*args, seconds: float = 10) -> tuple[subprocess.CompletedProcess, float, int]:
    """Run `pnsbox ARGS`; its answer, its wall time and its peak memory (kB). Killed after `seconds`.

    The peak comes from GNU time, which forks the command from its own small process: a child
    forked straight from this (large, late in the suite) pytest process would report pytest's
    size as its own peak, because the kernel keeps the pre-exec high-water mark."""
    with tempfile.NamedTemporaryFile("r") as peak:
        started = time.monotonic()
        proc = subprocess.Popen(["/usr/bin/time", "-q", "-f", "%M", "-o", peak.name, *PNSBOX, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=seconds)
        except subprocess.TimeoutExpired as exc:
            os.killpg(proc.pid, signal.SIGKILL)  # time and the command it runs
            proc.communicate()
            raise AssertionError(f"pnsbox {' '.join(args)} ran past {seconds} s") from exc
        elapsed = time.monotonic() - started
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), elapsed, \
            int(peak.read().split()[-1])


def site(tmp_path: Path, main: bytes | str, opds: dict[str, bytes | str] | None = None) -> Path:
    for name, content in {"pnsbox.yaml": main, **{f"opds/{k}": v for k, v in (opds or {}).items()}}.items():
        path = tmp_path / "site" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return tmp_path / "site"


def test_an_eight_level_alias_bomb_is_refused_by_pnsbox_validate_within_a_second_in_bounded_memory(tmp_path):
    bomb = alias_bomb(8)
    assert len(bomb.encode()) < 500
    proc, seconds, peak_kb = run_cli("validate", "-c", str(site(tmp_path, bomb)))
    main = tmp_path / "site" / "pnsbox.yaml"
    assert proc.returncode == 1, proc.stderr
    assert f"{main}:1: (top): YAML anchors and aliases (&name, *name) are not used in a site file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert seconds < 3, "the whole command, Python's start included"
    assert peak_kb < 150_000
    started = time.perf_counter()
    with pytest.raises(ConfigError):
        load_text(bomb)
    assert time.perf_counter() - started < 0.1


def test_a_single_alias_is_refused_too_with_its_line():
    with pytest.raises(ConfigError) as caught:
        load_text("site:\n  name: x\nschedules:\n  a: &office {from: '07:00', to: '16:00'}\n  b: *office\n")
    assert [str(p) for p in caught.value.problems] == [
        "pnsbox.yaml:4: (top): YAML anchors and aliases (&name, *name) are not used in a site file: "
        "write the value out"]


@pytest.mark.parametrize("where", ["main", "opds"])
def test_bytes_that_are_not_utf8_give_file_line_and_exit_1(tmp_path, where):
    bad = b"site:\n  name: Dinas \xe9\xff\n"
    good = "site:\n  name: x\n"
    directory = site(tmp_path, bad, None) if where == "main" else site(tmp_path, good, {"dinkes.yaml": b"\n" + bad})
    proc, _, _ = run_cli("validate", "-c", str(directory))
    file, line = (directory / "pnsbox.yaml", 2) if where == "main" else (directory / "opds" / "dinkes.yaml", 3)
    assert proc.returncode == 1
    assert f"{file}:{line}: (top): not UTF-8 text: byte 0xe9 at column 15 (save the file as UTF-8)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_text_with_a_lone_surrogate_over_the_api_gives_file_line():
    with pytest.raises(ConfigError) as caught:
        load_files({"pnsbox.yaml": "site:\n  name: x\n  zone: Asia/\udcff\n"}, "/etc/pnsbox")
    assert str(caught.value.problems[0]).startswith("/etc/pnsbox/pnsbox.yaml:3: (top): not UTF-8 text")


def test_a_huge_file_is_refused_clearly_without_being_parsed(tmp_path):
    huge = "site:\n  name: x\n" + "#" * MAX_FILE_BYTES + "\n"
    proc, seconds, peak_kb = run_cli("validate", "-c", str(site(tmp_path, huge)))
    assert proc.returncode == 1
    assert f"{tmp_path / 'site' / 'pnsbox.yaml'}: (top): file too large: a site file holds at most 8 MiB" \
        in proc.stderr
    assert seconds < 3 and peak_kb < 150_000


@pytest.mark.parametrize("nesting", ["[" * 100_000 + "]" * 100_000, "a:\n" + "".join(
    " " * i + f"k{i}:\n" for i in range(1, 200)) + " " * 200 + "v\n"])
def test_a_deeply_nested_file_is_refused_clearly(tmp_path, nesting):
    proc, seconds, _ = run_cli("validate", "-c", str(site(tmp_path, "x: " + nesting if nesting[0] == "[" else nesting)))
    assert proc.returncode == 1, proc.stderr
    # libyaml's scanner stops a flow collection 1,000 deep before any event reaches our bound
    assert f"nested deeper than {MAX_DEPTH} levels" in proc.stderr or "maximum nesting depth" in proc.stderr
    assert "Traceback" not in proc.stderr and seconds < 3


def test_too_many_values_are_refused_in_bounded_time_and_memory(tmp_path):
    many = "x: [" + "0," * (MAX_NODES + 10) + "0]\n"  # about 0.5 MB: under the size cap
    proc, seconds, peak_kb = run_cli("validate", "-c", str(site(tmp_path, many)), seconds=30)
    assert proc.returncode == 1
    assert f"too many values: a site holds at most {MAX_NODES:,} YAML nodes" in proc.stderr
    assert seconds < 20, "about 1 s on an idle 2-core VM; generous for a loaded CI machine"
    assert peak_kb < 250_000


def test_merge_keys_and_unknown_tags_are_refused_with_their_line():
    for text, message in (("a: {<<: {b: 1}}\n", "merge keys (<<) are not used"),
                          ("a: !!python/name:os.system x\n", "YAML tag tag:yaml.org,2002:python/name:os.system"),
                          ("a: 1\n---\nb: 2\n", "one YAML document")):
        with pytest.raises(ConfigError) as caught:
            load_text(text)
        assert message in str(caught.value)

"""Helpers for the browser tests (kept out of conftest.py so test modules can import them)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
ARTIFACTS = Path(__file__).parent / "artifacts"


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(page, stack, name: str) -> None:
    page.goto(stack["url"] + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", stack["passwords"][name])
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#logout")


def show(stack) -> str:
    return subprocess.run([str(BIN / "pnsbox"), "show", "--netns", stack["hub"], "--state-dir", stack["state"]],
                          check=True, capture_output=True, text=True).stdout

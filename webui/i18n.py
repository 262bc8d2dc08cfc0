"""Bahasa Indonesia by default, English on request, per user. Texts are written in English in the
code and templates; translations/id.json gives the Indonesian for each."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path

from flask import g, session

from pnsbox.errors import PnsboxError
from pnsbox.problems import Problem
from pnsbox.wording import render

DEFAULT = "id"
LANGUAGES = {"id": "Bahasa Indonesia", "en": "English"}


@cache
def catalog(lang: str) -> dict[str, str]:
    path = Path(__file__).with_name("translations") / f"{lang}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def current_language() -> str:
    user = g.get("user")
    lang = user.lang if user else session.get("lang", DEFAULT)
    return lang if lang in LANGUAGES else DEFAULT


def translate(text: str, **values) -> str:
    """The text in the reader's language, with {name} placeholders filled in."""
    translated = catalog(current_language()).get(text, text)
    return translated.format(**values) if values else translated


# What pnsboxd says comes with its code and arguments (pnsbox.wording); the reader gets it in their
# language from pnsbox's catalog of it. The web UI numbers policies as its tables do (row 8,
# not policies[7]) in every language.
_WEB_WORDING = {"en": {"explain.policy_ref": "row {row}"}}


def said(text, structured: dict | None = None, lang: str | None = None) -> str:
    """TEXT (pnsboxd's English) in the reader's language, from its STRUCTURED form when it has one."""
    lang = lang or current_language()
    return render(structured, lang, _WEB_WORDING.get(lang), fallback=str(text or ""))


def error_text(exc) -> str:
    """A pnsbox error's message in the reader's language, when pnsboxd said it with a code."""
    return said(str(exc), getattr(exc, "said", None))


def audit_kind(action: str) -> str:
    """An audit event's kind (apply, login, ...) in the reader's language."""
    return said(action, {"code": f"audit.kind.{action}", "args": {}})


def problem_text(problem) -> str:
    """A config problem as `pnsbox validate` prints it (FILE:LINE: path: ...), its message in the reader's language."""
    if not isinstance(problem, Problem):  # an error standing in for its problems (an edit refused, say)
        return error_text(problem) if isinstance(problem, PnsboxError) else str(problem)
    return str(dataclasses.replace(problem, message=said(problem.message, problem.said)))


def explain_text(answer, lang: str | None = None) -> str:
    """pnsboxd's explain answer, line by line, in the reader's language."""
    if not answer.said:
        return answer.text
    return "\n".join(line.get("indent", "") + said("", line, lang) for line in answer.said)

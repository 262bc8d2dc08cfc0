"""Bahasa Indonesia by default, English on request, per user. Texts are written in English in the
code and templates; translations/id.json gives the Indonesian for each."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from flask import g, session

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

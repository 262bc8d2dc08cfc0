"""What pnsbox says, as a stable code with arguments, worded from one catalog per language.

pnsboxd and the CLI say things in English (`say(code, **args)` is a str: the CLI prints it, the
golden files hold it, byte for byte as before). The same object carries its code and arguments,
so the JSON pnsboxd sends holds them too ({"code": ..., "args": {...}}) and the web UI words them
in its reader's language (`render`). An argument may itself be said (a nested message, or a list
of them), or a word from a closed set (`{direction:word}`: download, upload, ...), which each
catalog words its own way. Names, rates, addresses, FILE:LINE and YAML paths are arguments and
are never translated.
"""

from __future__ import annotations

import string
from importlib import import_module

LANGUAGES = ("en", "id")


class Said(str):
    """English text that also knows what it says: its code and its arguments."""

    code: str
    args: dict

    def as_json(self) -> dict:
        return {"code": self.code, "args": {k: _plain(v) for k, v in self.args.items()}}


def _plain(value):
    if isinstance(value, Said):
        return value.as_json()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def say(code: str, **args) -> Said:
    """The English of CODE with ARGS (str, int or a nested Said), carrying both."""
    text = Said(_word(catalog("en")[code], args, "en"))
    text.code, text.args = code, args
    return text


def structured(text) -> dict | None:
    """The {code, args} of a message, when it is one (plain strings have none)."""
    return text.as_json() if isinstance(text, Said) else None


def catalog(lang: str) -> dict[str, str]:
    return import_module(f"{__name__}.{lang}").MESSAGES


def words(lang: str) -> dict[str, str]:
    return import_module(f"{__name__}.{lang}").WORDS


_JOINS = {"lines": "\n", "semicolons": "; "}  # `{name:lines}`: a list joined otherwise than by ", "


class _Formatter(string.Formatter):
    def __init__(self, lang: str, overrides: dict | None):
        self.lang, self.overrides = lang, overrides

    def format_field(self, value, spec):
        if isinstance(value, (list, tuple)):  # a list of things said: joined as the CLI always joined them
            if spec in _JOINS:
                return _JOINS[spec].join(self.format_field(v, "") for v in value)
            return ", ".join(self.format_field(v, spec) for v in value)
        if spec in _JOINS:  # one thing, or a list already joined (as older entries keep it)
            spec = ""
        if isinstance(value, dict) and "code" in value:  # a nested message, as JSON carries it
            value = render(value, self.lang, self.overrides)
        elif isinstance(value, Said):
            value = render(value.as_json(), self.lang, self.overrides) if self.lang != "en" or self.overrides \
                else str(value)
        if spec == "word":
            return words(self.lang).get(str(value), str(value))
        return super().format_field(value, spec)


def _word(template: str, args: dict, lang: str, overrides: dict | None = None) -> str:
    return _Formatter(lang, overrides).vformat(template, (), args)


def render(message: dict | None, lang: str, overrides: dict | None = None, fallback: str = "") -> str:
    """A message ({code, args}) in LANG; a code or an argument the catalog lacks gives FALLBACK
    (the English text as it came), never an error page. OVERRIDES: code -> template, for a
    reader who needs a message worded otherwise (the web UI numbers policies as table rows)."""
    if not isinstance(message, dict) or "code" not in message:
        return fallback
    template = (overrides or {}).get(message["code"]) or catalog(lang if lang in LANGUAGES else "en").get(
        message["code"])
    if template is None:
        return fallback
    try:
        return _word(template, dict(message.get("args") or {}), lang, overrides)
    except (KeyError, IndexError, ValueError, TypeError):
        return fallback


def audit_said_ok(action: str, said) -> bool:
    """What the web UI sends for an audit event it witnessed: the event's own code, a few short
    arguments (the trail keeps it; a wrong one is dropped, the English detail stays)."""
    if not isinstance(said, dict) or set(said) != {"code", "args"} or not isinstance(said["args"], dict):
        return False
    return (said["code"] in (f"audit.{action}", f"audit.{action}.opds", f"audit.{action}.reset")
            and len(said["args"]) <= 8
            and all(isinstance(v, (str, int)) and len(str(v)) <= 200 for v in said["args"].values()))

"""Config problems: every one names the file, the line and the YAML path."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from .errors import ConfigError  # noqa: F401  (raised with these problems; its home is errors.py)
from .wording import Said, say, structured


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    path: str
    message: str
    said: dict | None = field(default=None, compare=False)  # the message's code and arguments (wording)

    def __post_init__(self):
        if self.said is None and isinstance(self.message, Said):
            object.__setattr__(self, "said", structured(self.message))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '(top)'}: {self.message}"



def dotted(path: tuple) -> str:
    """('opds', 'dinkes', 'link') -> 'opds.dinkes.link'; list indices as [i]."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# pydantic's own error kinds, said the way pnsbox says things (its English is not an admin's).
# Each takes the value as written; pnsbox's own validators raise ValueError with their words already.
_KIND_CODES = {
    "int_type": "config.value.not_whole", "int_parsing": "config.value.not_whole",
    "int_from_float": "config.value.not_whole",
    "float_type": "config.value.not_number", "float_parsing": "config.value.not_number",
    "bool_type": "config.value.not_bool", "bool_parsing": "config.value.not_bool",
    "string_type": "config.value.not_string",
    "list_type": "config.value.not_list",
    "dict_type": "config.value.not_named_mapping", "model_type": "config.value.not_mapping",
    "model_attributes_type": "config.value.not_mapping",
    "too_short": "config.value.too_short", "string_too_short": "config.value.empty",
    "ip_v4_address": "config.value.not_ipv4_address",
    "ip_v4_interface": "config.value.not_ipv4_interface",
    "ip_any_network": "config.value.not_network",
    "string_pattern_mismatch": "config.value.pattern",
}


def in_words(kind: str, error: dict) -> str:
    """A pydantic error of `kind` as pnsbox says it (the catalog's problems use it too)."""
    value = error.get("input")
    if kind == "value_error":  # pnsbox's own validators: their message is already the admin's
        raised = error["ctx"]["error"]
        said = raised.args[0] if isinstance(raised, ValueError) and raised.args else None
        return said if isinstance(said, Said) else str(raised)
    if kind == "literal_error":
        choices = ", ".join(re.findall(r"'([^']*)'", error["ctx"]["expected"]))
        if isinstance(value, bool):  # YAML reads yes/no/on/off as true/false
            return say("config.value.yaml_bool", value=str(value).lower(), choices=choices)
        return say("config.value.not_one_of", value=repr(value), choices=choices)
    if kind == "ip_v4_network":
        return say("config.value.not_ipv4_network", value=repr(value), hint=_network_hint(value))
    if kind in _KIND_CODES:
        return say(_KIND_CODES[kind], input=repr(value))
    # a kind this table does not know yet: still the value and pydantic's words, never nothing
    return say("config.value.other", value=repr(value), words=error["msg"].removeprefix("Value error, "))


def _network_hint(value) -> str:
    """The network an admin probably meant (host bits cleared), or the form to write."""
    try:
        meant = IPv4Network(str(value), strict=False)
    except ValueError:
        return say("config.value.network_form")
    return say("config.value.host_bits", network=str(meant))

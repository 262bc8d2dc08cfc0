"""Config problems: every one names the file, the line and the YAML path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Network

from .errors import ConfigError  # noqa: F401  (raised with these problems; its home is errors.py)


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    path: str
    message: str

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
_KIND_WORDS = {
    "int_type": "{input!r} is not a whole number", "int_parsing": "{input!r} is not a whole number",
    "int_from_float": "{input!r} is not a whole number",
    "float_type": "{input!r} is not a number", "float_parsing": "{input!r} is not a number",
    "bool_type": "{input!r} is not true or false", "bool_parsing": "{input!r} is not true or false",
    "string_type": "{input!r} is not text: write it as a string",
    "list_type": "must be a list (- item, or [a, b])",
    "dict_type": "must be a mapping of name to item", "model_type": "must be a mapping (key: value)",
    "model_attributes_type": "must be a mapping (key: value)",
    "too_short": "give at least one", "string_too_short": "must not be empty",
    "ip_v4_address": "{input!r} is not an IPv4 address: write it like 10.0.10.10",
    "ip_v4_interface": "{input!r} is not an address with its prefix: write it like 198.51.100.2/24",
    "ip_any_network": "{input!r} is not a network: write it like 10.0.0.0/8 or 2001:db8::/32, host bits zero",
    "string_pattern_mismatch": "{input!r} is not allowed here: lower-case letters, digits, - and _",
}


def in_words(kind: str, error: dict) -> str:
    """A pydantic error of `kind` as pnsbox says it (the catalog's problems use it too)."""
    value = error.get("input")
    if kind == "value_error":  # pnsbox's own validators: their message is already the admin's
        return str(error["ctx"]["error"])
    if kind == "literal_error":
        choices = ", ".join(re.findall(r"'([^']*)'", error["ctx"]["expected"]))
        if isinstance(value, bool):  # YAML reads yes/no/on/off as true/false
            return f"YAML reads this as {str(value).lower()}; write one of {choices}"
        return f"{value!r} is not one of {choices}"
    if kind == "ip_v4_network":
        return f"{value!r} is not an IPv4 network: " + _network_hint(value)
    if kind in _KIND_WORDS:
        return _KIND_WORDS[kind].format(input=value)
    # a kind this table does not know yet: still the value and pydantic's words, never nothing
    return f"{value!r}: {error['msg'].removeprefix('Value error, ')}"


def _network_hint(value) -> str:
    """The network an admin probably meant (host bits cleared), or the form to write."""
    try:
        meant = IPv4Network(str(value), strict=False)
    except ValueError:
        return "write it like 10.21.0.0/24"
    return f"its host bits are set; the network is {meant}"

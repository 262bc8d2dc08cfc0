"""Which passwords are refused: too short, a known-weak one (with digits or punctuation around
it), a keyboard or digit run, one character over and over, or the user's own name."""

from __future__ import annotations

import re

MIN_PASSWORD = 10

# Bases that wordlists try first, in English and Indonesian, and what this box is called; a
# password that is one of these with digits or punctuation added is as weak as the base.
_WEAK_WORDS = """
password passw0rd p@ssword p@ssw0rd pass pasword secret admin administrator root toor user guest
welcome letmein changeme default login master monkey dragon iloveyou trustno1 sunshine football
qwerty qwertyuiop qwertyui asdfgh asdfghjkl zxcvbnm qazwsx abc abcd abcdef abcdefgh abcdefghij
rahasia sayang sayangku bismillah indonesia jakarta merdeka cintaku katasandi kata-sandi sandi
pemprov pemkab pemkot kominfo diskominfo pnsbox pns-box pnsboxadmin operator auditor
"""
WEAK_BASES = frozenset(_WEAK_WORDS.split())
_AROUND = re.compile(r"^[\d\W_]*(.*?)[\d\W_]*$")
_RUNS = ("0123456789", "9876543210", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm")


class WeakPassword(ValueError):
    """The password is refused (the message says why, for the person choosing it)."""


def check_password_strength(password: str, user: str | None = None) -> None:
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD} characters")
    lowered = password.lower()
    base = _AROUND.match(lowered).group(1)
    if not base or base in WEAK_BASES or (user and base == user.lower()):
        raise WeakPassword("this password is among the first that attackers try; choose another")
    if len(set(lowered)) <= 3 or any(lowered in run or lowered in run * 2 for run in _RUNS):
        raise WeakPassword("a run of keys or one character over and over is easy to guess; choose another")

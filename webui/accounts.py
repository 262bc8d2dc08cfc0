"""Accounts of the web UI: users with a role, argon2id password hashes and API tokens, in one
JSON file under the state directory. Shared by the web app and `pnsbox user`."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .files import write_private
from .passwords import WeakPassword, check_password_strength

ROLES = ("admin", "operator", "auditor")
LANGUAGES = ("id", "en")
TOKEN_DAYS = 90  # an API token's life; a new one is made on the account page
NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Checked against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class AccountError(ValueError):
    """A request about accounts that cannot be done (message for the person asking)."""


@dataclass
class User:
    name: str
    role: str
    opds: list[str] = field(default_factory=list)  # operators: the OPDs they may see and change
    lang: str = "id"
    password_hash: str = ""
    tokens: dict[str, dict] = field(default_factory=dict)  # token id -> {name, hash, created, expires}
    created: float = 0.0
    # Sessions started before this (a password change) are over, in every web process: the CLI's
    # `pnsbox user passwd` reaches them through this file.
    sessions_since: float = 0.0

    def as_json(self) -> dict:
        return {"role": self.role, "opds": self.opds, "lang": self.lang, "hash": self.password_hash,
                "tokens": self.tokens, "created": self.created, "sessions_since": self.sessions_since}

    @classmethod
    def from_json(cls, name: str, data: dict) -> User:
        return cls(name, data["role"], list(data.get("opds", [])), data.get("lang", "id"), data.get("hash", ""),
                   dict(data.get("tokens", {})), data.get("created", 0.0), data.get("sessions_since", 0.0))


def _strong(password: str, name: str) -> None:
    try:
        check_password_strength(password, name)
    except WeakPassword as exc:
        raise AccountError(str(exc)) from None


def token_expiry(token: dict) -> float:
    """Tokens made before expiry dates existed end TOKEN_DAYS after they were made."""
    return token.get("expires") or token.get("created", 0.0) + TOKEN_DAYS * 86400


def _token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccountStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._cache: tuple[float, dict[str, User]] | None = None

    # --- reading and writing ------------------------------------------------------------

    def users(self) -> dict[str, User]:
        """All users; re-read when the file changed (the CLI may have edited it)."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if self._cache is None or self._cache[0] != mtime:
            data = json.loads(self.path.read_text())
            self._cache = (mtime, {n: User.from_json(n, u) for n, u in data.get("users", {}).items()})
        return self._cache[1]

    def get(self, name: str) -> User | None:
        return self.users().get(name)

    @contextlib.contextmanager
    def _editing(self):
        """Hold the lock while reading, changing and writing back all users."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._cache = None
            users = {n: User.from_json(n, u.as_json()) for n, u in self.users().items()}
            yield users
            write_private(self.path, json.dumps({"users": {n: u.as_json() for n, u in users.items()}}, indent=1))
            self._cache = None

    # --- accounts -------------------------------------------------------------------------

    def add(self, name: str, role: str, password: str, opds: list[str] | None = None, lang: str = "id") -> User:
        if not NAME.match(name):
            raise AccountError("a user name is lower-case letters, digits, '.', '_' or '-', starting with a letter")
        opds = sorted(set(opds or []))
        self._check_role(role, opds)
        _strong(password, name)
        with self._editing() as users:
            if name in users:
                raise AccountError(f"user {name} exists already")
            users[name] = User(name, role, opds, lang if lang in LANGUAGES else "id", _hasher.hash(password),
                               created=time.time())
            return users[name]

    def set_role(self, name: str, role: str, opds: list[str] | None = None) -> User:
        """Change what a user may do; their next request already runs with it. The last admin stays."""
        opds = sorted(set(opds or []))
        self._check_role(role, opds)
        with self._editing() as users:
            found = self._existing(users, name)
            if found.role == "admin" and role != "admin" and sum(u.role == "admin" for u in users.values()) == 1:
                raise AccountError("this is the last admin: make another admin first")
            found.role, found.opds = role, opds
            return found

    @staticmethod
    def _check_role(role: str, opds: list[str]) -> None:
        if role not in ROLES:
            raise AccountError(f"the role must be one of {', '.join(ROLES)}")
        if role == "operator" and not opds:
            raise AccountError("an operator needs at least one OPD (--opd NAME)")
        if role != "operator" and opds:
            raise AccountError("only operators are scoped to OPDs")

    def set_password(self, name: str, password: str) -> None:
        """A new password ends every session and API token of the user (a stolen one too)."""
        _strong(password, name)
        self._rehash(name, password, end_sessions=True)

    def _rehash(self, name: str, password: str, end_sessions: bool) -> None:
        with self._editing() as users:
            found = self._existing(users, name)
            found.password_hash = _hasher.hash(password)
            if end_sessions:
                found.tokens, found.sessions_since = {}, time.time()

    def set_language(self, name: str, lang: str) -> None:
        if lang not in LANGUAGES:
            raise AccountError(f"the language must be one of {', '.join(LANGUAGES)}")
        with self._editing() as users:
            self._existing(users, name).lang = lang

    def delete(self, name: str) -> None:
        with self._editing() as users:
            self._existing(users, name)
            del users[name]

    @staticmethod
    def _existing(users: dict[str, User], name: str) -> User:
        if name not in users:
            raise AccountError(f"no user {name}")
        return users[name]

    def verify(self, name: str, password: str) -> User | None:
        """The user if the password is right; rehashes when the library's parameters moved on."""
        user = self.get(name)
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if user and _hasher.check_needs_rehash(user.password_hash):
            with contextlib.suppress(AccountError):
                self._rehash(name, password, end_sessions=False)
        return user

    # --- API tokens -----------------------------------------------------------------------

    def add_token(self, name: str, label: str, days: int = TOKEN_DAYS) -> str:
        """A new token for NAME, valid DAYS; the secret is shown once and only its digest is kept."""
        token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        now = time.time()
        with self._editing() as users:
            self._existing(users, name).tokens[token_id] = {"name": label[:60] or token_id,
                                                            "hash": _token_digest(secret), "created": now,
                                                            "expires": now + days * 86400}
        return f"pnsbox_{token_id}_{secret}"

    def delete_token(self, name: str, token_id: str) -> None:
        with self._editing() as users:
            if users.get(name) is None or token_id not in users[name].tokens:
                raise AccountError(f"no token {token_id}")
            del users[name].tokens[token_id]

    def user_of_token(self, token: str) -> User | None:
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != "pnsbox" or not secret:
            return None
        for user in self.users().values():
            kept = user.tokens.get(token_id)
            if kept and hmac.compare_digest(kept["hash"], _token_digest(secret)):
                return user if time.time() < token_expiry(kept) else None
        return None

    def ensure_first_admin(self, name: str = "admin") -> str | None:
        """At first start: an admin with a random password, returned once to be shown; None if users exist."""
        if self.users():
            return None
        alphabet = string.ascii_letters + string.digits  # easy to copy: no leading '-' for a shell to misread
        password = "".join(secrets.choice(alphabet) for _ in range(16))
        self.add(name, "admin", password)
        return password

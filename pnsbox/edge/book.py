"""The hub's record of its edges: one-time enrollment tokens and each OPD's enrolled edge.

Everything lives in one file, `edges.json` in the state directory, changed under one lock
with write-fsync-rename: an enrollment that is refused (a wrong, used or expired token, a bad
key) writes nothing at all. Tokens are kept only as their SHA-256: they are long random
secrets, so the hash is enough to recognise one, and reading the state directory yields no
usable token. The hub's own WireGuard private key sits beside it, readable by root alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from ..apply.owned import locked, write_atomic
from ..model import Config
from ..wording import say
from .keys import new_private_key, public_key, valid_public_key

BOOK = "edges.json"
HUB_KEY = "wireguard-hub.key"
DEFAULT_TOKEN_LIFETIME = 24 * 3600
TOKEN_PREFIX = "pnsbox-"  # so a token pasted in the wrong place is recognisable


class EnrollRefused(Exception):
    """An enrollment or token request that was refused; the message says why, for the edge's admin."""


@dataclass(frozen=True)
class Token:
    id: int
    opd: str
    digest: str  # SHA-256 of the token text
    created: float
    expires: float
    author: str
    used: float | None = None  # when it enrolled an edge
    used_key: str | None = None  # the public key it enrolled

    def state(self, now: float) -> str:
        return "used" if self.used else ("expired" if now >= self.expires else "valid")


@dataclass(frozen=True)
class Edge:
    opd: str
    public_key: str
    tunnel_address: str  # CIDR, the tunnel's prefix: what the edge puts on its interface
    enrolled: float
    key_since: float  # when this key was recorded (the key's age)
    token: int  # the token that enrolled it
    disabled: bool = False
    credential: str = ""  # SHA-256 of the secret the edge shows when it fetches its config
    previous_key: str | None = None  # the key before a rotation, kept until the edge runs the new one
    next_key: str | None = None  # a rotation's new key, registered through the tunnel: a peer that carries
    # nothing until the hub sees the edge shake hands with it (then it becomes public_key)


@dataclass
class Book:
    tokens: list[Token] = field(default_factory=list)
    edges: dict[str, Edge] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"tokens": [asdict(t) for t in self.tokens],
                           "edges": {name: asdict(e) for name, e in self.edges.items()}}, indent=1, sort_keys=True)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_lifetime(text: str) -> int:
    """'24h', '30m', '7d', '3600s' -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if not text or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) <= 0:
        raise ValueError(f"{text!r} is not a lifetime: write 30m, 24h or 7d")
    seconds = int(text[:-1]) * units[text[-1]]
    if seconds > 30 * 86400:
        raise ValueError("a token lives at most 30 days")
    return seconds


class EdgeBook:
    def __init__(self, state_dir: str | Path):
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / BOOK

    def read(self) -> Book:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return Book()
        return Book([Token(**t) for t in data.get("tokens", [])],
                    {name: Edge(**e) for name, e in data.get("edges", {}).items()})

    def _write(self, book: Book) -> None:
        write_atomic(self.path, book.to_json())
        os.chmod(self.path, 0o600)

    # --- the hub's key ----------------------------------------------------------------

    def hub_private_key(self, create: bool = True) -> str | None:
        """The hub's WireGuard private key, made on first use; it never leaves the state directory.
        With create=False (a plan, which writes nothing): None until one was made."""
        path = self.state_dir / HUB_KEY
        if not create:
            return path.read_text().strip() if path.exists() else None
        with locked(self.state_dir, "edges.lock"):
            if not path.exists():
                self.state_dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(new_private_key() + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
            return path.read_text().strip()

    def hub_public_key(self) -> str:
        return public_key(self.hub_private_key())

    # --- tokens -----------------------------------------------------------------------

    def add_token(self, config: Config, opd: str, lifetime: int = DEFAULT_TOKEN_LIFETIME, author: str = "",
                  now: float | None = None) -> tuple[str, Token]:
        """A new one-time token for OPD's edge; its text is returned once and never stored."""
        _tunnelled(config, opd)
        now = time.time() if now is None else now
        text = TOKEN_PREFIX + secrets.token_urlsafe(24)
        with locked(self.state_dir, "edges.lock"):
            book = self.read()
            token = Token(max((t.id for t in book.tokens), default=0) + 1, opd, digest(text), now, now + lifetime,
                          author)
            book.tokens.append(token)
            self._write(book)
        return text, token

    # --- enrollment -------------------------------------------------------------------

    def enroll(self, config: Config, token_text: str, edge_key: str, now: float | None = None) -> tuple[Edge, str]:
        """Record EDGE_KEY as the edge of the OPD the token was issued for, or refuse and
        record nothing. Enrolling again (a new token) keeps the OPD's tunnel address. Returns
        the edge and its credential (a secret it shows when it fetches its config; kept hashed)."""
        now = time.time() if now is None else now
        if not isinstance(token_text, str) or not token_text:
            raise EnrollRefused("no enrollment token given")
        try:
            valid_public_key(edge_key)
        except (ValueError, TypeError) as exc:
            raise EnrollRefused(f"the edge's public key is {exc}") from None
        with locked(self.state_dir, "edges.lock"):
            book = self.read()
            wanted = digest(token_text)
            token = next((t for t in book.tokens if secrets.compare_digest(t.digest, wanted)), None)
            if token is None:
                raise EnrollRefused("this enrollment token is not valid (mistyped, or not issued by this hub)")
            if token.used:
                raise EnrollRefused(f"this enrollment token was already used at {_when(token.used)}; "
                                    f"ask the hub's admin for a new one (pnsbox edge token add {token.opd})")
            if now >= token.expires:
                raise EnrollRefused(f"this enrollment token expired at {_when(token.expires)}; "
                                    f"ask the hub's admin for a new one (pnsbox edge token add {token.opd})")
            try:
                _tunnelled(config, token.opd)
            except LookupError as exc:
                raise EnrollRefused(str(exc)) from None
            for other in book.edges.values():
                if other.public_key == edge_key and other.opd != token.opd:
                    raise EnrollRefused(f"this public key is already the edge of OPD {other.opd}; "
                                        "every edge makes its own key pair")
            previous = book.edges.get(token.opd)
            address = tunnel_address(config, book, token.opd)
            credential = secrets.token_urlsafe(32)
            edge = Edge(token.opd, edge_key, address, previous.enrolled if previous else now, now, token.id,
                        credential=digest(credential))
            book.edges[token.opd] = edge
            book.tokens = [t if t.id != token.id else Token(**{**asdict(t), "used": now, "used_key": edge_key})
                           for t in book.tokens]
            self._write(book)
        return edge, credential

    def edge_of(self, credential: str) -> Edge | None:
        """The enrolled edge that holds CREDENTIAL, if any."""
        wanted = digest(credential) if isinstance(credential, str) and credential else None
        if wanted is None:
            return None
        return next((e for e in self.read().edges.values() if e.credential
                     and secrets.compare_digest(e.credential, wanted)), None)

    def rotate(self, credential: str, new_key: str, now: float | None = None) -> Edge:
        """The edge holding CREDENTIAL registers a new public key (through its tunnel). It is kept
        as `next_key`, a peer that carries nothing, while the current key goes on carrying the
        edge's traffic (the reply to this very request among it); `promote` makes it the key once
        the hub sees the edge shake hands with it."""
        now = time.time() if now is None else now
        try:
            valid_public_key(new_key)
        except (ValueError, TypeError) as exc:
            raise EnrollRefused(f"the new public key is {exc}") from None
        with locked(self.state_dir, "edges.lock"):
            book = self.read()
            wanted = digest(credential) if isinstance(credential, str) and credential else ""
            edge = next((e for e in book.edges.values() if e.credential and secrets.compare_digest(e.credential, wanted)),
                        None)
            if edge is None:
                raise EnrollRefused("not an enrolled edge's credential")
            if edge.disabled:
                raise EnrollRefused(f"the edge of {edge.opd} is disabled on the hub")
            if any(new_key in (e.public_key, e.previous_key, e.next_key) for e in book.edges.values()):
                raise EnrollRefused("this public key is already known to the hub; make a new one")
            rotated = Edge(**{**asdict(edge), "next_key": new_key})
            book.edges[edge.opd] = rotated
            self._write(book)
            return rotated

    def promote(self, opd: str, key: str, now: float | None = None) -> Edge | None:
        """The hub saw OPD's edge use KEY, its registered next key: it becomes the edge's key (its
        allowed IPs move to it) and the old one is kept, carrying nothing, until the edge's next
        config fetch. None if KEY is not (or no longer) the edge's next key."""
        now = time.time() if now is None else now
        with locked(self.state_dir, "edges.lock"):
            book = self.read()
            edge = book.edges.get(opd)
            if edge is None or edge.next_key != key:
                return None
            book.edges[opd] = Edge(**{**asdict(edge), "public_key": key, "previous_key": edge.public_key,
                                      "next_key": None, "key_since": now})
            self._write(book)
            return book.edges[opd]

    def confirm_key(self, opd: str, running_key: str) -> bool:
        """The edge runs RUNNING_KEY: if that is its new key, forget the previous one. True if so."""
        self.promote(opd, running_key)  # it fetched with the new key before the hub saw a handshake
        with locked(self.state_dir, "edges.lock"):
            book = self.read()
            edge = book.edges.get(opd)
            if edge is None or edge.previous_key is None or edge.public_key != running_key:
                return False
            book.edges[opd] = Edge(**{**asdict(edge), "previous_key": None})
            self._write(book)
            return True

    def set_disabled(self, opd: str, disabled: bool) -> Edge:
        """Disable (revoke) or enable again an OPD's edge; the hub's peers follow at the next apply."""
        with locked(self.state_dir, "edges.lock"):
            book = self.read()
            if opd not in book.edges:
                raise LookupError(say("edge.none_enrolled", opd=opd))
            book.edges[opd] = Edge(**{**asdict(book.edges[opd]), "disabled": disabled})
            self._write(book)
            return book.edges[opd]


def _tunnelled(config: Config, opd: str) -> None:
    if opd not in config.opds:
        raise LookupError(say("edge.no_opd", opd=opd))
    if not config.opds[opd].link.is_wireguard:
        raise LookupError(say("edge.not_wireguard", opd=opd))


def tunnel_address(config: Config, book: Book, opd: str) -> str:
    """OPD's tunnel address: as the config gives it, as enrolled before, or the lowest free one."""
    hub = config.site.wireguard
    prefix = hub.tunnel.prefixlen
    given = config.opds[opd].link.wireguard.address
    if given is not None:
        return f"{given}/{prefix}"
    if opd in book.edges:
        earlier = IPv4Interface(book.edges[opd].tunnel_address).ip
        if earlier in hub.tunnel and not _claimed_by_config(config, opd, earlier):
            return f"{earlier}/{prefix}"
    taken = {hub.hub_address.ip} | {IPv4Interface(e.tunnel_address).ip for n, e in book.edges.items() if n != opd}
    taken |= {o.link.wireguard.address for o in config.opds.values() if o.link.is_wireguard and o.link.wireguard.address}
    for host in hub.tunnel.hosts():
        if host not in taken:
            return f"{host}/{prefix}"
    raise EnrollRefused(f"the tunnel range {hub.tunnel} has no free address left")


def _claimed_by_config(config: Config, opd: str, address: IPv4Address) -> bool:
    return any(o.link.is_wireguard and o.link.wireguard.address == address
               for name, o in config.opds.items() if name != opd)


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))

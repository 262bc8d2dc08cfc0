"""The edge book and the hub's WireGuard key, the same on both hubs of an HA pair.

Both hubs run the hub's WireGuard interface with one private key and one set of peers (the
enrolled edges), so that the hub an edge reaches after a failover (the one now holding the
address edges_url names) completes its handshake. Enrollments, rotations and disables happen on
the active hub; the standby's pnsboxd takes the active's book and key over the peer link (a
digest in /peer/state, the contents from /peer/edges) and puts the peers into its own kernel.
The endpoints the active hub hears the edges at travel in the state too (edge_endpoints); the
standby keeps them in memory and, when it becomes active, puts them into its kernel and asks each
edge for a handshake (peer.PeerLink.watch_role, tunnel_addresses below).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from ipaddress import IPv4Interface
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..apply.owned import locked
from ..edge.book import BOOK, HUB_KEY, EdgeBook


def snapshot(state_dir: str | Path) -> dict:
    """The book's text and the hub's private key as this hub holds them ("" where none is)."""
    root = Path(state_dir)
    return {"book": _read(root / BOOK), "key": _read(root / HUB_KEY).strip()}


def digest(snap: dict) -> str:
    """Equal on both hubs exactly when book and key are (shown in the peer state; no secret in it)."""
    return hashlib.sha256(json.dumps(snap, sort_keys=True).encode()).hexdigest()[:32]


def _aead(pair_key: bytes) -> AESGCM:
    return AESGCM(hashlib.sha256(b"pnsbox edge book\0" + pair_key).digest())


def seal(pair_key: bytes, snap: dict) -> dict:
    nonce = os.urandom(12)
    sealed = _aead(pair_key).encrypt(nonce, json.dumps(snap).encode(), b"edges")
    return {"nonce": base64.b64encode(nonce).decode(), "sealed": base64.b64encode(sealed).decode()}


def unseal(pair_key: bytes, answer: dict) -> dict:
    plain = _aead(pair_key).decrypt(base64.b64decode(answer["nonce"]), base64.b64decode(answer["sealed"]), b"edges")
    snap = json.loads(plain)
    return {"book": str(snap.get("book", "")), "key": str(snap.get("key", ""))}


def adopt(state_dir: str | Path, snap: dict) -> None:
    """Write the peer's book and key here, each atomically, under the book's lock."""
    root = Path(state_dir)
    with locked(root, "edges.lock"):
        for name, text in ((HUB_KEY, snap["key"] + "\n"), (BOOK, snap["book"])):
            if text.strip():
                _write_private(root / name, text)


def _write_private(path: Path, text: str) -> None:
    """write_atomic, but the file is root's alone from its first byte (it may be the key)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""



def tunnel_addresses(state_dir: str | Path) -> list[str]:
    """The enrolled, enabled edges' tunnel addresses: where a hub that became active asks for handshakes."""
    book = EdgeBook(state_dir).read()
    return [str(IPv4Interface(edge.tunnel_address).ip) for edge in book.edges.values() if not edge.disabled]

"""The HA pair's shared key, and the HMAC that signs every request and answer between the peers.

Why an HMAC and not mutual TLS: the two hubs share one secret file (`pnsbox ha pair-key`, copied
to the other hub), nothing expires, there are no certificates to pin or renew, and the standard
library does it all. What crosses the sync link is the site's config, which both hubs hold
anyway; what matters is that nobody but the peer can change a hub or feed it a config, which
the HMAC gives: every request is signed over its method, path, body, a timestamp and a nonce
(a replay outside 30 s, or of a nonce already seen, is refused), and every answer over the
request's nonce and its own body, so a forged answer is refused by the asker too.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from pathlib import Path

from ..wording import say

FILE = "ha.key"
WINDOW = 30.0  # seconds a request's timestamp may differ from our clock
HEADER_TIME, HEADER_NONCE, HEADER_SIGNATURE = "X-Pnsbox-Time", "X-Pnsbox-Nonce", "X-Pnsbox-Signature"


class PairKeyError(Exception):
    """The pair key is missing or unreadable."""


def create(path: str | Path) -> Path:
    """A new random key (256 bits, hex) readable by root only; an existing one is kept."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists: copy it to the other hub, or delete it first to make a new one")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path


def read(path: str | Path) -> bytes:
    try:
        text = Path(path).read_text().strip()
    except FileNotFoundError:
        raise PairKeyError(f"no pair key at {path}: run `pnsbox ha pair-key` on one hub and copy the file "
                           "to the other") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise PairKeyError(f"{path}: not a pair key (64 hex digits)") from None
    if len(key) < 16:
        raise PairKeyError(f"{path}: too short for a pair key")
    return key


def _mac(key: bytes, *parts: str | bytes) -> str:
    digest = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)  # length-prefixed: parts cannot be shifted
    return digest.hexdigest()


def sign_request(key: bytes, method: str, path: str, body: bytes, when: float | None = None,
                 nonce: str | None = None) -> dict[str, str]:
    """The headers a signed request carries."""
    when = time.time() if when is None else when
    nonce = nonce or secrets.token_hex(16)
    stamp = f"{when:.3f}"
    return {HEADER_TIME: stamp, HEADER_NONCE: nonce,
            HEADER_SIGNATURE: _mac(key, "request", method, path, stamp, nonce, body)}


def sign_answer(key: bytes, nonce: str, status: int, body: bytes) -> str:
    return _mac(key, "answer", nonce, str(status), body)


def answer_is_genuine(key: bytes, nonce: str, status: int, body: bytes, signature: str | None) -> bool:
    return bool(signature) and hmac.compare_digest(sign_answer(key, nonce, status, body), signature)


class Verifier:
    """Checks requests, remembering the nonces of the last WINDOW seconds (a replay is refused)."""

    def __init__(self, key: bytes):
        self.key = key
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, method: str, path: str, body: bytes, headers) -> str | None:
        """None when genuine and fresh; otherwise why not (for the audit trail)."""
        stamp, nonce, signature = (headers.get(h) for h in (HEADER_TIME, HEADER_NONCE, HEADER_SIGNATURE))
        if not (stamp and nonce and signature):
            return say("peer.refused.unsigned")
        try:
            when = float(stamp)
        except ValueError:
            return say("peer.refused.bad_timestamp")
        if not hmac.compare_digest(_mac(self.key, "request", method, path, stamp, nonce, body), signature):
            return say("peer.refused.signature")
        now = time.time()
        if abs(now - when) > WINDOW:
            return say("peer.refused.clock", off=f"{now - when:+.0f}", window=f"{WINDOW:.0f}")
        with self._lock:
            self._seen = {n: t for n, t in self._seen.items() if now - t <= 2 * WINDOW}
            if nonce in self._seen:
                return say("peer.refused.replayed")
            self._seen[nonce] = now
        return None

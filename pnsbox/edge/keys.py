"""WireGuard key pairs (Curve25519), made where they are used: the private key never travels."""

from __future__ import annotations

import base64
import binascii

# cryptography is imported by the functions that make or check a key: every apply imports this
# module (through the edge book), and most have no WireGuard OPD.


def new_private_key() -> str:
    """A fresh private key, base64 as `wg genkey` prints it."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    raw = X25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode()


def public_key(private_key: str) -> str:
    """The public key of a private key, as `wg pubkey` prints it."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = X25519PrivateKey.from_private_bytes(decode(private_key))
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def decode(key: str) -> bytes:
    """A base64 key -> its 32 bytes, or ValueError saying what is wrong."""
    try:
        raw = base64.b64decode(key, validate=True) if isinstance(key, str) else b""
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise ValueError("not a WireGuard key (44 characters of base64, 32 bytes)")
    return raw


def valid_public_key(key: str) -> str:
    """`key` if it is a usable Curve25519 public key, else ValueError."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    X25519PublicKey.from_public_bytes(decode(key))
    return key


def hex_key(key: str) -> str:
    """base64 -> hex, the form wireguard-go's control socket speaks."""
    return decode(key).hex()

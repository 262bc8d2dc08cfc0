"""The edge's HTTPS to the hub, with the hub's certificate pinned: its SHA-256 is taken at
enrollment (or given with --fingerprint and checked before the token is sent) and every later
request is refused unless the hub shows that same certificate. No CA is trusted or needed."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import ssl
import urllib.parse


class HubUnreachable(Exception):
    """The hub could not be reached (network, TLS): an edge keeps its last config."""


class PinMismatch(Exception):
    """The server showed a certificate other than the pinned one: nothing was sent to it."""


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # trust comes from the pin, checked before anything is sent
    return context


def split_url(url: str) -> tuple[str, int, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{url!r} is not an https:// address of a hub")
    return parts.hostname, parts.port or 443, parts.path.rstrip("/")


def fingerprint_of(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def post(url: str, path: str, body: dict, pin: str | None, timeout: float = 5.0) -> tuple[int, dict, str]:
    """POST BODY as JSON to URL+PATH; (status, reply, the certificate's fingerprint). With PIN,
    a server showing another certificate gets nothing (PinMismatch)."""
    host, port, base = split_url(url)
    connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=_context())
    try:
        try:
            connection.connect()
        except (OSError, ssl.SSLError) as exc:
            raise HubUnreachable(f"{host}:{port}: {exc}") from exc
        seen = fingerprint_of(connection.sock.getpeercert(binary_form=True))
        if pin is not None and seen != pin.lower().replace(":", ""):
            raise PinMismatch(f"{host}:{port} showed certificate {seen}, not the pinned {pin}; nothing was sent")
        try:
            connection.request("POST", base + path, json.dumps(body), {"Content-Type": "application/json"})
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise HubUnreachable(f"{host}:{port}: {exc}") from exc
        try:
            reply = json.loads(data or b"{}")
        except ValueError:
            reply = {"error": data[:200].decode(errors="replace")}
        return response.status, reply if isinstance(reply, dict) else {"error": str(reply)}, seen
    finally:
        connection.close()


def endpoint_host(url: str) -> str:
    """The hub's IPv4 address as the edge reaches it (WireGuard's endpoint takes an address)."""
    host = split_url(url)[0]
    try:
        return socket.gethostbyname(host)
    except OSError as exc:
        raise HubUnreachable(f"cannot resolve {host}: {exc}") from exc

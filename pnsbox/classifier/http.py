"""HTTP/1.x requests: the Host header."""

from __future__ import annotations

from .wire import MORE, text

_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"CONNECT ",
            b"PATCH ", b"TRACE ")
_HEAD_LIMIT = 8192  # request heads longer than this are not waited for


def request_host(buf):
    """The Host of the request `buf` starts with: a name, "" for a request without one,
    MORE while the head is incomplete, or None if `buf` is not an HTTP request."""
    if not bytes(buf[:8]).startswith(_METHODS):
        if len(buf) < 8 and any(m.startswith(bytes(buf)) for m in _METHODS) and buf:
            return MORE
        return None
    head_end = buf.find(b"\r\n\r\n", 0, _HEAD_LIMIT)
    head = bytes(buf[:head_end + 2 if head_end >= 0 else _HEAD_LIMIT])
    at = head.lower().find(b"\r\nhost:")
    line_end = head.find(b"\r\n", at + 7) if at >= 0 else -1
    if line_end < 0:
        complete = head_end >= 0 or len(buf) >= _HEAD_LIMIT
        return "" if complete else MORE
    return _without_port(head[at + 7:line_end].strip())


def _without_port(host: bytes) -> str:
    if host.startswith(b"["):  # [2001:db8::1]:8080
        return text(host[1:host.find(b"]")] if b"]" in host else host[1:])
    name, colon, port = host.rpartition(b":")
    if colon and port.isdigit() and b":" not in name:
        host = name
    return text(host)

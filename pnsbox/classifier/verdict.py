"""What a flow is, and the conntrack mark that carries it back to the kernel.

Mark layout (32 bits):

    bit  31      classified: the classifier is done with this flow (stop queueing it)
    bits 28-30   confidence: 0 none (unknown app), 1 inspected, 2 dns, 3 address, 4 port
    bits 24-27   reserved, always 0 (free for other users of the mark)
    bits 16-23   category id (0 = unknown)
    bits  0-15   application id (0 = unknown)

An nft rule matches an application with `ct mark & 0x8000ffff == 0x80000000 | APP_ID` and a
category with `ct mark & 0x80ff0000 == 0x80000000 | CATEGORY_ID << 16`.
"""

from __future__ import annotations

CLASSIFIED = 1 << 31
CONFIDENCE_SHIFT = 28
CONFIDENCE_MASK = 0x7 << CONFIDENCE_SHIFT
CATEGORY_SHIFT = 16
CATEGORY_MASK = 0xFF << CATEGORY_SHIFT
APP_MASK = 0xFFFF

# how the application was decided, strongest first
INSPECTED = "inspected"   # a name read from the flow itself (SNI, Host, DNS question, banner)
DNS = "dns"               # the server address was the answer to an earlier DNS question
ADDRESS = "address"       # the server address is in an application's address range
PORT = "port"             # the server port is an application's well-known port
NONE = "none"             # nothing matched: the application is unknown
CONFIDENCES = {NONE: 0, INSPECTED: 1, DNS: 2, ADDRESS: 3, PORT: 4}


def mark(app_id: int, category_id: int, confidence: str) -> int:
    return (CLASSIFIED | CONFIDENCES[confidence] << CONFIDENCE_SHIFT
            | (category_id & 0xFF) << CATEGORY_SHIFT | (app_id & APP_MASK))


def unpack_mark(value: int) -> tuple[int, int, str] | None:
    """ct mark -> (app id, category id, confidence), or None if not classified."""
    if not value & CLASSIFIED:
        return None
    code = (value & CONFIDENCE_MASK) >> CONFIDENCE_SHIFT
    confidence = next((k for k, v in CONFIDENCES.items() if v == code), NONE)
    return value & APP_MASK, (value & CATEGORY_MASK) >> CATEGORY_SHIFT, confidence


class Verdict:
    """A flow's verdict, made once per flow and then only read (never changed: it is shared by
    the flow table and whoever asked). A plain class rather than a frozen dataclass: the engine
    makes one per new flow, and a frozen dataclass's __init__ (one object.__setattr__ a field)
    was most of what a verdict cost; equality, hash and repr are the dataclass's."""

    __slots__ = ("app", "category", "confidence", "name", "protocol", "app_id", "category_id", "mark")

    def __init__(self, app: str, category: str, confidence: str, name: str | None, protocol: str | None,
                 app_id: int = 0, category_id: int = 0) -> None:
        self.app = app                  # catalog application name, "unknown" if none matched
        self.category = category        # its category, "unknown" if none
        self.confidence = confidence    # inspected | dns | address | port | none
        self.name = name                # the name that decided it (SNI, Host, DNS question, learned name, SSH banner)
        self.protocol = protocol        # the protocol inspection recognised (dns mdns http tls quic ssh), else None
        self.app_id = app_id
        self.category_id = category_id
        self.mark = mark(app_id, category_id, confidence)

    def _fields(self) -> tuple:
        return (self.app, self.category, self.confidence, self.name, self.protocol, self.app_id,
                self.category_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"Verdict(app={self.app!r}, category={self.category!r}, confidence={self.confidence!r}, "
                f"name={self.name!r}, protocol={self.protocol!r}, app_id={self.app_id!r}, "
                f"category_id={self.category_id!r}, mark={self.mark!r})")

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

from dataclasses import dataclass, field

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


@dataclass(frozen=True, slots=True)
class Verdict:
    app: str                 # catalog application name, "unknown" if none matched
    category: str            # its category, "unknown" if none
    confidence: str          # inspected | dns | address | port | none
    name: str | None         # the name that decided it (SNI, Host, DNS question, learned name, SSH banner)
    protocol: str | None     # the protocol inspection recognised (dns mdns http tls quic ssh), else None
    app_id: int = 0
    category_id: int = 0
    mark: int = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "mark", mark(self.app_id, self.category_id, self.confidence))

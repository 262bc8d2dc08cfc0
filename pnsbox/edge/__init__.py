"""Edge boxes: keys, enrollment tokens, the hub's record of enrolled edges, and the edge itself."""

import os

EDGE_STATE_DIR = os.environ.get("PNSBOX_EDGE_STATE_DIR", "/var/lib/pnsbox-edge")
EDGE_INTERFACE = "pnsbox-edge"  # the edge's WireGuard interface unless named (unique on the host)

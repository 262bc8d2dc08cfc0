"""Where the web UI keeps its state and how it reaches pnsboxd (from the environment or flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_STATE = "/var/lib/pnsbox-web"
DEFAULT_SOCKET = "/run/pnsbox/control.sock"


@dataclass
class Settings:
    state_dir: Path = field(default_factory=lambda: Path(os.environ.get("PNSBOX_WEB_STATE_DIR", DEFAULT_STATE)))
    socket: str = field(default_factory=lambda: os.environ.get("PNSBOX_SOCKET", DEFAULT_SOCKET))
    idle_timeout: int = 15 * 60        # seconds without a request before a session ends
    session_lifetime: int = 12 * 3600  # a session ends after this however active it is
    login_attempts: int = 5            # failed logins allowed per window, per (address, user name)
    address_attempts: int = 20         # failed logins allowed per window, per address
    login_window: int = 300            # seconds
    secure_cookies: bool = True        # off only when serving plain HTTP on loopback
    management_port: str = "tcp/443"   # what the daemon's anti-lockout check must keep open for us
    default_confirm: int = 120         # seconds an applied change waits for its confirm

    def __post_init__(self):
        self.state_dir = Path(self.state_dir)

    @property
    def users_file(self) -> Path:
        return self.state_dir / "users.json"

    @property
    def drafts_dir(self) -> Path:
        return self.state_dir / "drafts"

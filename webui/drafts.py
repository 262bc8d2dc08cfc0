"""A user's pending edits (a draft): the files being changed, the version they started from, and
what was changed. Edits pile up in the draft until it is reviewed and applied or discarded."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .files import write_private


@dataclass
class Draft:
    base: int | None                 # the running version the edits started from
    files: dict[str, str]
    notes: list[str] = field(default_factory=list)  # one line per edit, for the review and the message


class DraftStore:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def _path(self, user: str) -> Path:
        return self.directory / f"{user}.json"

    def get(self, user: str) -> Draft | None:
        try:
            return Draft(**json.loads(self._path(user).read_text()))
        except FileNotFoundError:
            return None

    def save(self, user: str, draft: Draft) -> None:
        write_private(self._path(user), json.dumps(asdict(draft)))

    def discard(self, user: str) -> None:
        self._path(user).unlink(missing_ok=True)

"""The daemon's records under the state directory, each with one typed reader and writer.

  confirmed.json  {"version": N}                 the last version an admin confirmed
  pending.json    Pending                        a change awaiting confirm
  applying.json   Journal                        written before the kernel is touched, removed
                                                 once the new version is recorded
(owned/NS.json is apply.owned's, usage.json observe.usage's.) Readers take what earlier
versions of pnsbox wrote: fields added since have defaults, and unknown fields are ignored.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .apply.owned import write_atomic
from .errors import PnsboxError

CONFIRMED, PENDING, JOURNAL = "confirmed.json", "pending.json", "applying.json"


@dataclass(frozen=True)
class Pending:
    version: int
    deadline: float  # unix time: rolled back unless confirmed by then
    rollback_to: int | None = None  # the version a rollback returns to
    author: str | None = None  # who may settle it (besides an admin); older records have none


@dataclass(frozen=True)
class Journal:
    """An apply in progress. Found at start, the apply was cut off."""

    previous: int | None  # the version that ran before it
    time: float = 0.0
    author: str | None = None
    files: dict[str, str] | None = None  # a first apply's files (nothing before it to go back to)


class StateError(PnsboxError):
    """A record under the state directory cannot be read."""


def _from(cls, data) -> object:
    if not isinstance(data, dict):
        raise StateError(f"{cls.__name__}: not a JSON object")
    known = {f.name for f in fields(cls)}
    try:
        return cls(**{key: value for key, value in data.items() if key in known})
    except TypeError as exc:
        raise StateError(f"{cls.__name__}: {exc}") from None


class StateFiles:
    def __init__(self, state_dir: str | Path):
        self.dir = Path(state_dir)

    def _read(self, name: str):
        try:
            return json.loads((self.dir / name).read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise StateError(f"{self.dir / name}: unreadable ({exc})") from None

    def _write(self, name: str, data: dict | None) -> None:
        path = self.dir / name
        if data is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, json.dumps(data))

    def confirmed(self) -> int | None:
        data = self._read(CONFIRMED)
        if data is None:
            return None
        version = data.get("version") if isinstance(data, dict) else None
        if version is not None and not isinstance(version, int):
            raise StateError(f"{self.dir / CONFIRMED}: version is not a number")
        return version

    def pending(self) -> Pending | None:
        data = self._read(PENDING)
        return None if data is None else _from(Pending, data)

    def journal(self) -> Journal | None:
        data = self._read(JOURNAL)
        return None if data is None else _from(Journal, data)

    def set_confirmed(self, version: int | None) -> None:
        self._write(CONFIRMED, None if version is None else {"version": version})

    def set_pending(self, pending: Pending | None) -> None:
        self._write(PENDING, None if pending is None else asdict(pending))

    def set_journal(self, journal: Journal | None) -> None:
        self._write(JOURNAL, None if journal is None else
                    {key: value for key, value in asdict(journal).items() if key != "files" or value is not None})

"""Which versions were rolled back and why, and the alert an automatic rollback raises until
someone acknowledges it (rolled_back.json in the state directory)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..apply.owned import write_atomic
from ..wording import say, structured

FILE = "rolled_back.json"


class RollbackRecord:
    def __init__(self, state_dir: str | Path):
        self.path = Path(state_dir) / FILE

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"versions": {}, "alert": None}

    def mark(self, version: int, why: str, back_to: int | None = None, automatic: bool = False) -> None:
        """VERSION no longer runs because of WHY; an automatic rollback also raises the alert."""
        record = self._read()
        record["versions"][str(version)] = why
        record.setdefault("said", {})[str(version)] = structured(why)  # its code, for readers of other languages
        if automatic:
            record["alert"] = {"version": version, "to": back_to, "reason": why, "time": time.time(),
                               "said": structured(why)}  # the reason's code, for readers of other languages
        write_atomic(self.path, json.dumps(record))

    def reasons(self) -> dict[int, str]:
        return {int(v): why for v, why in self._read()["versions"].items()}

    def said(self) -> dict[int, dict]:
        """The code and arguments of each reason that was said (older records have none)."""
        return {int(v): said for v, said in self._read().get("said", {}).items() if said}

    def alert(self) -> dict | None:
        return self._read()["alert"]

    def acknowledge(self) -> dict:
        record = self._read()
        alert, record["alert"] = record["alert"], None
        if alert is None:
            raise LookupError(say("rollback.nothing_to_acknowledge"))
        write_atomic(self.path, json.dumps(record))
        return alert

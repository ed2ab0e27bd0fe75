"""A scorer as plain data: the latest registered version of one name in one experiment."""

from __future__ import annotations

import json
from dataclasses import dataclass

KIND = "scorer"


@dataclass(frozen=True)
class ScorerSnap:
    """The latest version of a scorer: its experiment, name, version number and serialized form."""

    experiment_id: str
    name: str
    version: int
    serialized: str

    def content(self) -> object:
        """What must be equal between a scorer and its copy: the serialized scorer, parsed when it
        is JSON."""
        try:
            return json.loads(self.serialized)
        except ValueError:
            return self.serialized


# experiment id -> scorer name -> its latest version; None for an end that cannot list scorers (and
# why)
Scorers = dict[str, dict[str, ScorerSnap]]

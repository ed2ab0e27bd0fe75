"""Sets of object ids in 8 bytes each, for the facts a pass keeps about every run (which source runs
exist, which have a copy): a million ids cost 8 MB instead of about 100 MB as a Python set of
strings.

Ids are hashed (BLAKE2b, 64 bits); a false match needs two of a million ids to share 64 bits (about
1 in 10^7).
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable


def id_hash(object_id: str) -> int:
    """The 64-bit signed hash an IdSet stores for an id."""
    return int.from_bytes(
        hashlib.blake2b(object_id.encode(), digest_size=8).digest(), "little", signed=True
    )


class IdSet:
    """A growing set of ids: `add`, `update`, `in`, `len` (duplicates are counted once)."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._sorted = array("q")
        self._new = array("q")
        self.update(ids)

    def add(self, object_id: str) -> None:
        """Remember one id."""
        self._new.append(id_hash(object_id))

    def update(self, ids: Iterable[str]) -> None:
        """Remember several ids."""
        self._new.extend(id_hash(i) for i in ids)

    def _settle(self) -> None:
        if self._new:
            merged = sorted(set(self._sorted) | set(self._new))
            self._sorted, self._new = array("q", merged), array("q")

    def __contains__(self, object_id: object) -> bool:
        if not isinstance(object_id, str):
            return False
        self._settle()
        h = id_hash(object_id)
        i = bisect_left(self._sorted, h)
        return i < len(self._sorted) and self._sorted[i] == h

    def __len__(self) -> int:
        self._settle()
        return len(self._sorted)

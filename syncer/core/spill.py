"""A list that keeps its tail in memory and spills the rest to a temporary file, so that millions of
plan actions or outcomes cost disk, not memory. Items are pickled in batches; iteration reads them
back in order.
"""

from __future__ import annotations

import pickle
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

SPILL_AT = 5000  # items kept in memory before a batch goes to disk


class _Live:
    """Stands on disk for an item kept in memory (`SpillList(live=...)`): its index in the live
    list."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class SpillList:
    """An append-only sequence: `append`, `extend`, `len`, iteration in order, equality with any
    iterable, and replacing an item in place (`lst[i] = x`).

    Items for which `live(item)` is true stay in memory as the same objects even once their batch is
    spilled, so later changes to them (a report note added after applying) are seen by every
    iteration; keep them few.
    """

    def __init__(
        self,
        items: Iterable[Any] = (),
        spill_at: int | None = None,
        live: Callable[[Any], bool] | None = None,
    ) -> None:
        self._live_test = live
        self._live: list[Any] = []
        self._tail: list[Any] = []
        self._file: IO[bytes] | None = None
        self._spilled = 0
        self._spill_at = spill_at or SPILL_AT
        self._replaced: dict[
            int, Any
        ] = {}  # index -> item put in place of a spilled one (__setitem__)
        self._lock = threading.Lock()
        self.extend(items)

    def append(self, item: Any) -> None:
        """Add one item at the end."""
        with self._lock:
            self._tail.append(item)
            if len(self._tail) >= self._spill_at:
                self._spill()

    def extend(self, items: Iterable[Any]) -> None:
        """Add items at the end, in order."""
        for item in items:
            self.append(item)

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="mlflow-syncer-")  # noqa: SIM115  (closed by close())
        self._file.seek(0, 2)
        pickle.dump(
            [self._stand_in(item) for item in self._tail],
            self._file,
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        self._spilled += len(self._tail)
        self._tail = []

    def _stand_in(self, item: Any) -> Any:
        if self._live_test is None or not self._live_test(item):
            return item
        self._live.append(item)
        return _Live(len(self._live) - 1)

    def __len__(self) -> int:
        return self._spilled + len(self._tail)

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            spilled, tail, replaced = self._spilled, list(self._tail), dict(self._replaced)
        for i, item in enumerate(self._read(spilled)):
            yield replaced.get(i, item)
        yield from tail

    def _read(self, count: int) -> Iterator[Any]:
        """The first `count` spilled items, batch by batch (the file position is per read)."""
        if self._file is None or not count:
            return
        offset, read = 0, 0
        while read < count:
            with self._lock:
                self._file.seek(offset)
                batch = pickle.load(self._file)  # our own temporary file
                offset = self._file.tell()
            read += len(batch)
            for item in batch:
                yield self._live[item.index] if isinstance(item, _Live) else item

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (SpillList, list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __getitem__(self, index: int) -> Any:
        """Item by position (reads the spilled part from disk: for tests and small lists)."""
        if index < 0:
            index += len(self)
        for i, item in enumerate(self):
            if i == index:
                return item
        raise IndexError(index)

    def __setitem__(self, index: int, item: Any) -> None:
        """Put `item` in place of the item at `index` (a spilled item's replacement stays in
        memory)."""
        if index < 0:
            index += len(self)
        with self._lock:
            if not 0 <= index < self._spilled + len(self._tail):
                raise IndexError(index)
            if index >= self._spilled:
                self._tail[index - self._spilled] = item
            else:
                self._replaced[index] = item

    def __repr__(self) -> str:
        return f"SpillList({len(self)} items, {self._spilled} on disk)"

    def close(self) -> None:
        """Remove the temporary file (the list is empty afterwards)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
            self._file, self._spilled, self._tail, self._live = None, 0, [], []
            self._replaced = {}

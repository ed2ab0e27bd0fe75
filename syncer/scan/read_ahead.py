"""Reads side by side, handed on in the order they were asked for: a scan with several searches in
flight reads what a scan reading one after another reads, and its consumer (the planner) sees the
same sequence, so plans and reports do not depend on how many reads ran at once.

Memory stays bounded: at most `threads` reads are in flight, and a read that runs ahead of its turn
holds at most one result that was not taken yet (a stream of chunks: the one waiting, and the one
being read)."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_END = object()
_POLL_SECONDS = 0.2  # how often a read waiting for its turn checks that it is still wanted


class _Feed:
    """One stream read in its own thread into a one-place queue."""

    def __init__(self, stream: Callable[[], Iterable[T]]) -> None:
        self.items: queue.Queue = queue.Queue(maxsize=1)
        self.dropped = threading.Event()
        # (the caller's context variables, e.g. the log's bound fields, go with the read)
        run = contextvars.copy_context().run
        threading.Thread(target=run, args=(self._read, stream), daemon=True, name="scan").start()

    def _read(self, stream: Callable[[], Iterable[T]]) -> None:
        try:
            for item in stream():
                if not self._put((True, item)):
                    return
        except BaseException as exc:  # (handed to the consumer, raised there)
            self._put((False, exc))
            return
        self._put((True, _END))

    def _put(self, entry: tuple[bool, object]) -> bool:
        while not self.dropped.is_set():
            try:
                self.items.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def drain(self) -> Iterator[T]:
        """The stream's items, in order; its error raised where it happened."""
        while True:
            ok, item = self.items.get()
            if not ok:
                raise item  # type: ignore[misc]
            if item is _END:
                return
            yield item  # type: ignore[misc]


def streams_in_order(
    streams: Iterable[Callable[[], Iterable[T]]], threads: int
) -> Iterator[Iterator[T]]:
    """Each stream's items as one iterator, stream after stream, while up to `threads` streams are
    read at once (each in its own thread, each at most one item ahead of its consumer). Leaving a
    stream's iterator before its end drops the rest of that stream. `threads` 1: one after
    another, in the caller's thread."""
    if threads <= 1:
        yield from (iter(s()) for s in streams)
        return
    todo, running = iter(streams), deque[_Feed]()
    try:
        while True:
            while len(running) < threads and (stream := next(todo, None)) is not None:
                running.append(_Feed(stream))
            if not running:
                return
            feed = running.popleft()
            yield feed.drain()
            feed.dropped.set()
    finally:
        for feed in running:
            feed.dropped.set()


def mapped_ahead(
    items: Iterable[T], read: Callable[[T], Callable[[], R] | None], threads: int
) -> Iterator[tuple[T, Future[R] | None]]:
    """Each item with the future of its read (`read(item)`: what to read for it, called in order,
    in the caller's thread; None: nothing), up to `threads` items ahead of the consumer, their
    reads side by side. `threads` 1: each read done before its item is handed on."""
    if threads <= 1:
        for item in items:
            work = read(item)
            yield item, _done(work) if work is not None else None
        return
    pending: deque[tuple[T, Future[R] | None]] = deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="scan-dest") as pool:
        try:
            for item in items:
                work = read(item)
                pending.append((item, _submit(pool, work) if work is not None else None))
                if len(pending) > threads:
                    yield pending.popleft()
            while pending:
                yield pending.popleft()
        finally:
            for _item, future in pending:
                if future is not None:
                    future.cancel()


def _submit(pool: ThreadPoolExecutor, work: Callable[[], R]) -> Future[R]:
    return pool.submit(contextvars.copy_context().run, work)


def _done(work: Callable[[], R]) -> Future[R]:
    future: Future[R] = Future()
    try:
        future.set_result(work())
    except Exception as exc:  # (raised where the consumer takes the result)
        future.set_exception(exc)
    return future

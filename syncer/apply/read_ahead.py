"""Source reads of the runs to create, done ahead of their destination writes (issue 14).

While the run workers write run N into the destination, reader threads already list (and download,
when small) the artifacts of the next runs and start the bulk metric-history reads of their groups,
so that a run's copy waits on the destination only. Reads stay at most `window` runs ahead of the
oldest run not yet written (plan order), which bounds the disk used by downloaded files and the
memory used by histories; a read may always go ahead for the oldest unwritten run, so writers never
wait on a read that waits on them.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from syncer.apply.context import Context
from syncer.backends import artifacts as art
from syncer.core.actions import Action, Op


class ReadAhead:
    """Reads the source side of the CREATE runs among `actions`, in plan order, on its own
    threads."""

    def __init__(self, ctx: Context, actions: list[Action], threads: int, window: int) -> None:
        self.ctx = ctx
        self.order = {a.key: i for i, a in enumerate(a for a in actions if a.op is Op.CREATE)}
        self.window = max(1, window)
        self.done: set[int] = set()
        self.taken: set[int] = set()  # runs whose writer is waiting for their read
        self.low = 0  # the oldest run (index in self.order) not yet written
        self.closed = False
        self.cond = threading.Condition()
        self.pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="read-ahead")
        self.history_pool = ThreadPoolExecutor(
            max_workers=max(1, threads), thread_name_prefix="history-ahead"
        )
        self.futures: dict[tuple[str, str], Future] = {
            a.key: self.pool.submit(self._read, a) for a in actions if a.key in self.order
        }

    def _read(self, action: Action) -> art.SourceFiles | None:
        index = self.order[action.key]
        with self.cond:
            self.cond.wait_for(
                lambda: self.closed or index in self.taken or index < self.low + self.window
            )
            if self.closed or index >= self.low + self.window:
                # its writer got there first, far ahead of the oldest unwritten run: it reads itself
                return None
        run = self.ctx.src_snap.runs[action.source_id]
        if self.ctx.history is not None:
            self.ctx.history.warm(run.run_id, sorted(run.metrics), self.history_pool)
        return art.read_ahead(self.ctx.src, self.ctx.src.artifact_repo(run.artifact_uri))

    def take(self, action: Action) -> art.SourceFiles | None:
        """The run's source files read ahead, or None (not read ahead, or the read failed: the run's
        copy then reads its files itself and meets any failure in its own unit of work)."""
        fut = self.futures.get(action.key)
        if fut is None or fut.cancel():
            return None
        with self.cond:
            self.taken.add(self.order[action.key])
            self.cond.notify_all()
        try:
            return fut.result()
        except Exception:
            return None

    def release(self, action: Action) -> None:
        """The run's unit of work ended: delete its downloaded files and let the reads move on."""
        fut = self.futures.pop(action.key, None)
        if fut is None:
            return
        fut.add_done_callback(_close)
        with self.cond:
            self.done.add(self.order[action.key])
            while self.low in self.done:
                self.low += 1
            self.cond.notify_all()

    def close(self) -> None:
        """Stop reading ahead; delete whatever was read and not used."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        for fut in self.futures.values():
            fut.cancel()
        self.pool.shutdown(wait=True)
        self.history_pool.shutdown(wait=True, cancel_futures=True)
        for fut in self.futures.values():
            if not fut.cancelled():
                _close(fut)
        self.futures = {}

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close(fut: Future) -> None:
    if fut.cancelled() or fut.exception() is not None:
        return
    files = fut.result()
    if files is not None:
        files.close()

"""The run step's reads, ahead of its planning: the source's chunks (several experiments' searches
in flight: syncer.scan.read_ahead) and each chunk's destination runs, read side by side up to
`scan_threads` chunks ahead, handed to the planner in the order one-at-a-time reads would give, with
the refusals met while reading each chunk (an experiment the source refuses to show) before it, so
that the plan is the same whatever the number of threads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial

from syncer.core.snapshot import RunSnap
from syncer.scan import runs as run_scanner
from syncer.scan.read_ahead import mapped_ahead
from syncer.scan.run_chunks import Chunk

Refusal = tuple[str, Exception]  # (experiment id, what the source answered)


@dataclass
class Step:
    """One chunk to plan (None: the refusals met after the last chunk), with its destination
    experiments, the destination runs read ahead (None: read when planned) and the refusals met
    while reading it."""

    chunk: Chunk | None
    changed: bool = False
    dest_ids: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    found: Future[list[RunSnap]] | None = None

    def dest_runs(self) -> list[RunSnap] | None:
        """The destination runs read ahead (a failed read raised here), or None."""
        return None if self.found is None else self.found.result()


def each(read: Callable, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """The source's chunks, each read through `read` (the stream's: a failed read names the
    side)."""
    while True:
        chunk = read("source", lambda: next(chunks, None))
        if chunk is None:
            return
        yield chunk


def steps(
    stream: object,  # syncer.kinds.runs.stream.RunStream
    chunks: Iterator[Chunk],
    read_whole: set[str],
    dest_by_name: dict[str, str],
    held: list[Refusal],
) -> Iterator[Step]:
    """The chunks, each with its destination reads under way (`held`: where the stream's refusal
    callback puts refusals while the chunks are read)."""

    def marked() -> Iterator[Step]:
        for chunk in chunks:
            exp_ids, window, _runs = chunk
            refused, held[:] = list(held), []
            dest_ids = stream.dest.ids(exp_ids, window, dest_by_name)
            yield Step(chunk, exp_ids[0] not in read_whole, dest_ids, refused)
        yield Step(None, refused=list(held))
        held.clear()

    for step, found in mapped_ahead(marked(), partial(_ahead, stream.job), _threads(stream.job)):
        step.found = found
        yield step


def _ahead(job: object, step: Step) -> Callable[[], list[RunSnap]] | None:
    """The destination read of a full chunk (a change-only chunk's and a range unit's are read when
    planned: they depend on what was planned before)."""
    if step.chunk is None or step.changed or job.options.run_window is not None:
        return None
    return partial(run_scanner.window_runs, job.dst, step.dest_ids, step.chunk[1], True)


def _threads(job: object) -> int:
    return max(1, job.settings.scan_threads)

"""`diff --engine ray` (docs/SCALE_OUT.md): the diff's per-run reads as Ray tasks. Imported only
with Ray.

The driver reads and plans every chunk as `diff` on one machine does (syncer.report.model.build), so
the plan and its rows are the same. What a report adds to the plan, the per-run reads of
syncer.engine.deep_compare (metric histories and artifact listings of runs planned `*`; with
`--deep` every point and file checksum of the runs planned `=` and `+`), costs a request or more per
run: each chunk with such reads is a Ray task running `inspect_plan` on the chunk's actions and the
runs they name, and the driver merges what the tasks return. Merging is order-free (details by
action key, sums), so the report is the local engine's. Every task's requests draw from the
endpoints' shared rate budgets (syncer.engine.ray_budget).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from syncer.backends import source_line
from syncer.backends.calls import configure_http_retries
from syncer.config import Settings
from syncer.core.actions import Action, Op, Plan
from syncer.core.errors import FatalError
from syncer.core.snapshot import Snapshot
from syncer.engine import ray_budget
from syncer.engine.deep_compare import Inspection, inspect_plan
from syncer.engine.ray_units import MAX_RETRIES, connect
from syncer.engine.sync import endpoints, open_state

log = structlog.get_logger("syncer.engine.ray_inspect")

IN_FLIGHT_PER_CPU = 2  # chunks sent ahead per CPU of the cluster: memory stays a few chunks


def reads(actions: list[Action], deep: bool) -> list[Action]:
    """The run actions whose inspection reads (syncer.engine.deep_compare.inspect_plan)."""
    return [
        a
        for a in actions
        if a.kind == "run"
        and a.source_id
        and (a.op is Op.UPDATE or (deep and a.op in (Op.CREATE, Op.SAME)))
    ]


def _inspect_task(
    settings: Settings,
    config_path: str | None,
    actions: list[Action],
    src_snap: Snapshot,
    dst_snap: Snapshot,
    deep: bool,
    workers: int,
) -> Inspection:
    """In a Ray worker: one chunk's inspection, with ends and a read-only state store of its own."""
    configure_http_retries()
    src, dst = endpoints(settings)
    source_line.detect(src)  # the source's MLflow line narrows its capabilities, as in the driver
    ray_budget.share(src, dst)
    state = open_state(settings, src, dst, read_only=True, config_path=config_path)
    try:
        return inspect_plan(
            Plan(actions, {}), src, dst, src_snap, dst_snap, state, deep=deep, workers=workers
        )
    finally:
        state.close()


@dataclass
class RayInspect:
    """Sends each chunk whose inspection reads runs to a Ray task; hands back their inspections."""

    settings: Settings
    config_path: str | None
    deep: bool
    workers: int
    _pending: list = field(default_factory=list)
    _task: object = None
    _limit: int = 2
    sent: int = 0  # chunks sent to Ray tasks

    def start(self, src, dst) -> None:
        """Join the cluster and hold the endpoints' rate budgets (the driver keeps them alive)."""
        import ray  # only with --engine ray

        connect(self.settings.scale_out.ray_address)
        ray_budget.create(src, dst)
        self._task = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)(_inspect_task)
        self._limit = max(1, int(ray.cluster_resources().get("CPU", 1))) * IN_FLIGHT_PER_CPU

    def wants(self, plan: Plan) -> bool:
        """Whether the chunk's inspection reads runs (else it costs nothing where it is)."""
        return bool(reads(list(plan.actions), self.deep))

    def submit(self, plan: Plan, src_snap: Snapshot, dst_snap: Snapshot) -> list[Inspection]:
        """Send one chunk (only the runs its reads name); returns the inspections of tasks that
        finished meanwhile once more than `_limit` are in flight (backpressure)."""
        todo = reads(list(plan.actions), self.deep)
        src = Snapshot(
            src_snap.identity,
            runs={
                a.source_id: src_snap.runs[a.source_id]
                for a in todo
                if a.source_id in src_snap.runs
            },
        )
        dst = Snapshot(
            dst_snap.identity,
            runs={a.dest_id: dst_snap.runs[a.dest_id] for a in todo if a.dest_id in dst_snap.runs},
        )
        task: object = self._task
        ref = task.remote(  # type: ignore[attr-defined]
            self.settings, self.config_path, list(plan.actions), src, dst, self.deep, self.workers
        )
        self._pending.append(ref)
        self.sent += 1
        return self._wait(len(self._pending) - self._limit)

    def finish(self) -> list[Inspection]:
        """Every inspection still in flight."""
        done = self._wait(len(self._pending))
        log.info("chunks inspected on ray", chunks=self.sent)
        return done

    def _wait(self, n: int) -> list[Inspection]:
        import ray  # only with --engine ray

        if n <= 0:
            return []
        done, self._pending = ray.wait(self._pending, num_returns=n)
        try:
            return ray.get(done)
        except ray.exceptions.RayError as exc:  # a fatal read in a task stops the diff, as locally
            text = str(getattr(exc, "cause", None) or exc).strip()
            raise FatalError(text.splitlines()[-1][:300] if text else type(exc).__name__) from None

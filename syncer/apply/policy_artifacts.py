"""Write the run artifacts that the fitting policy (syncer.core.fitting) promises: full values of
truncated tags and params, dropped and overflowing tags, histories of metrics the destination cannot
take.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from syncer.backends.calls import call
from syncer.backends.write_once import write_once
from syncer.core.fitting import Fitted, metric_artifact
from syncer.core.snapshot import RunSnap

if TYPE_CHECKING:
    from syncer.apply.context import Context
    from syncer.backends.artifacts import CopyStats


def _metric_csv(ctx: Context, run: RunSnap, key: str) -> str:
    history = call(
        ctx.src, "get_metric_history", lambda: ctx.src.client.get_metric_history(run.run_id, key)
    )
    rows = sorted((m.step, m.timestamp, repr(float(m.value))) for m in history)
    return "step,timestamp,value\n" + "".join(f"{s},{t},{v}\n" for s, t, v in rows)


def contents(ctx: Context, run: RunSnap, fitted: Fitted) -> dict[str, Callable[[], str]]:
    """Artifact path -> a function producing its text (metric histories are read only when
    needed)."""
    out: dict[str, Callable[[], str]] = {
        p: (lambda t=text: t) for p, text in fitted.artifacts.items()
    }
    for key in fitted.dropped_metrics:
        out[metric_artifact(key)] = lambda key=key: _metric_csv(ctx, run, key)
    return out


def write(
    ctx: Context,
    run: RunSnap,
    fitted: Fitted,
    dst_repo,
    existing: dict[str, int | None],
    on_copied: Callable[[str, int], None],
    stats: CopyStats,
) -> None:
    """Upload the policy artifacts the destination run does not hold yet."""
    todo = {p: make for p, make in contents(ctx, run, fitted).items() if p not in existing}
    if not todo:
        return
    tmp = tempfile.mkdtemp(prefix="mlflow-syncer-policy-")
    try:
        for path, make in sorted(todo.items()):
            local = os.path.join(tmp, posixpath.basename(path))
            with open(local, "w", encoding="utf-8") as fh:
                fh.write(make())
            size = os.path.getsize(local)
            ctx.guard()
            write_once(
                ctx.dst,
                dst_repo,
                path,
                size,
                lambda local=local, path=path, size=size: (
                    call(
                        ctx.dst,
                        "log_artifact",
                        lambda: dst_repo.log_artifact(local, posixpath.dirname(path)),
                    )
                    or size
                ),
            )
            on_copied(path, size)
            stats.files += 1
            stats.bytes += size
            os.remove(local)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

"""Keep the full values of experiment tags the destination cannot hold whole (syncer.core.fitting
`fit_experiment_tags`): one JSON file in the experiment's holder run of the destination's archive
experiment (syncer.apply.archive), named by a hash of its content, written before the tags are
set."""

from __future__ import annotations

import json

from syncer.apply.archive import ArchiveWriter
from syncer.apply.context import Context
from syncer.backends.run_files import list_run_files
from syncer.core.archive import envelope
from syncer.core.fitting import FittedExperiment, experiment_tags_file
from syncer.core.snapshot import ExperimentSnap

KIND = "experiment_tags"


def keep_full_values(
    ctx: Context, exp: ExperimentSnap, dest_name: str, fitted: FittedExperiment
) -> None:
    """Write the file of full values unless the holder run already has it."""
    if not fitted.full:
        return
    writer = ArchiveWriter(ctx.dst, ctx.src.identity)
    ctx.guard()
    run_id = writer.holder(exp.experiment_id, dest_name)
    path = experiment_tags_file(fitted.full)
    if any(f.path == path for f in list_run_files(ctx.dst, run_id) if not f.is_dir):
        return
    document = {"experiment": exp.name, "destination_experiment": dest_name, "tags": fitted.full}
    text = json.dumps(
        envelope(KIND, exp.experiment_id, ctx.src.identity, document), indent=1, sort_keys=True
    )
    writer.put_text(run_id, path, text)

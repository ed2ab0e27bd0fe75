"""A source's files are reachable, or the pass stops saying so (issue 28).

MLflow lists a folder that does not exist as empty, so a source store copied without its artifact
folder (a SQLite file moved alone, a server started with `--no-serve-artifacts` and a root this
machine cannot see, a container without the mount) would be copied as if its runs had no files.
Before any run is planned, each selected experiment's artifact location is checked once: a local
path (MLflow's stores create each experiment's folder lazily, so the folder itself may be missing)
must exist, or at least its parent, the store's artifact root, unless the experiment holds no live
run (a store's `Default`, never used); logged models are checked the same way once they are
scanned (syncer.kinds.logged_models.reach). Otherwise the pass stops (fatal: nothing
written) with one line naming the location and what to mount or set. Remote locations
(mlflow-artifacts:, s3:, dbfs:, wasbs:, ...) are not checked here: an experiment's root is not
always listable there (Databricks), and their failures are errors of the files' own reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlparse

from syncer.core.errors import FatalError
from syncer.core.snapshot import ExperimentSnap

HELP = (
    "mount or copy the source's artifact folder there, or run mlflow-syncer where it is (a server "
    "source: serve its artifacts, `mlflow server --serve-artifacts`; a store that never held a "
    "file: "
    "create the empty folder)"
)


def local_path(location: str) -> str | None:
    """The local folder of a `file:` URI or a plain path; None for any other scheme."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return location
    return None


def unreachable(location: str) -> str | None:
    """Why a local `location` cannot be read from here, or None (other schemes are not checked)."""
    path = local_path(location)
    if (
        path is None
        or os.path.isdir(path)
        or os.path.isdir(os.path.dirname(path.rstrip("/")) or "/")
    ):
        return None
    return "does not exist on this machine"


def check_reach(experiments: Iterable[ExperimentSnap], has_runs: Callable[[str], bool]) -> None:
    """Stop (FatalError) at the first live experiment holding runs whose artifact location cannot be
    read from here. `has_runs(experiment_id)` is asked only for such a location: an experiment
    without runs (a store's `Default`, whose folder MLflow never made) has no files to miss."""
    for exp in experiments:
        if exp.deleted or not exp.artifact_location:
            continue
        why = unreachable(exp.artifact_location)
        if why is not None and has_runs(exp.experiment_id):
            raise FatalError(
                f"the source's files are out of reach: experiment {exp.name!r} keeps its "
                f"artifacts at {exp.artifact_location}, which {why}; {HELP}"
            )

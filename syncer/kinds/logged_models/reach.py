"""A source's logged-model files are reachable, or the pass stops saying so (issue 28).

Logged models are checked like experiments (syncer.scan.artifact_reach) once they are scanned
(before anything is copied): one check per distinct folder holding their `models/<id>/artifacts`
folders (a SQL store makes a model's own folder only with its first file, so a model without files
has none), whether or not their experiment holds runs.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from syncer.core.errors import FatalError
from syncer.kinds.logged_models.snapshot import LoggedModelSnap
from syncer.scan.artifact_reach import HELP, local_path, unreachable


def model_root(location: str) -> str:
    """The folder a logged model's files hang from: `<root>` of `<root>/models/<id>/artifacts`
    (MLflow's layout under the experiment's location), else the location's parent."""
    trimmed = location.rstrip("/")
    parts = trimmed.rsplit("/", 3)
    if len(parts) == 4 and parts[1] == "models" and parts[3] == "artifacts":
        return parts[0]
    return posixpath.dirname(trimmed)


def check_model_reach(models: Iterable[LoggedModelSnap], names: dict[str, str]) -> None:
    """Stop (FatalError) at the first logged model whose files' folder cannot be read from here; one
    check per distinct folder (`model_root`), not per model. `names`: experiment id -> name, for the
    message."""
    seen: set[str] = set()
    # sorted: the message is stable
    for lm in sorted(models, key=lambda m: (m.experiment_id, m.name, m.model_id)):
        if not lm.artifact_location or local_path(lm.artifact_location) is None:
            continue
        root = model_root(lm.artifact_location)
        if root in seen:
            continue
        seen.add(root)
        why = unreachable(root)
        if why is not None:
            raise FatalError(
                f"the source's files are out of reach: logged model {lm.name!r} ({lm.model_id}) of "
                f"experiment "
                f"{names.get(lm.experiment_id, lm.experiment_id)!r} keeps its artifacts at "
                f"{lm.artifact_location}, whose folder {root} {why}; {HELP}"
            )

"""Sentences every report of a pass says once (`Plan.notes`): what the source cannot hold, and where
a direct-store destination without `artifact_root` puts its files."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from syncer.backends.endpoint import Endpoint
from syncer.core.capabilities import absent_note
from syncer.core.kinds import plural

# SQLAlchemy URL schemes of MLflow's direct SQL tracking stores (mlflow.store.db.db_types).
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
# Where MLflow's SQL store keeps the files of new experiments when given no artifact root
# (mlflow.store.tracking.DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH), relative to the working directory.
_MLFLOW_DEFAULT_ROOT = "mlruns"


def artifact_root_note(dst: Endpoint) -> str | None:
    """Where the files of a direct SQL store destination's new experiments go when no artifact_root
    is set."""
    scheme = urlparse(dst.tracking_uri).scheme.lower().split("+", 1)[0]
    if dst.artifact_root or scheme not in _SQL_SCHEMES:
        return None
    where = os.path.abspath(_MLFLOW_DEFAULT_ROOT)
    return (
        f"destination has no artifact_root: files of the experiments it creates go to {where} "
        "(MLflow's ./mlruns of the folder this command runs in); set destination.artifact_root to "
        "choose"
    )


def pass_notes(src: Endpoint, dst: Endpoint) -> list[str]:
    """The notes of one pass between `src` (its source line detected) and `dst`."""
    return [n for n in (absent_note(src.caps, plural), artifact_root_note(dst)) if n]

"""Which ends can hold scorers: the kind's part of syncer.core.capabilities (`absent_kinds`)."""

from __future__ import annotations

from syncer.core.capabilities import KindCaps, declare
from syncer.kinds.scorers.snapshot import KIND

# A later MLflow 3.x release brought them; MLflow's legacy file store implements none of their API
# (MlflowNotImplementedException), whatever wrote it.
SCORERS = declare(KindCaps(KIND, since=3, absent_from=("file-store",)))

"""MLflow's REST bodies written compactly.

MLflow's client renders every request body with `proto_json_utils.message_to_json`, which ends in
`json.dumps(..., indent=2)`: with an indent, Python's JSON encoder runs in pure Python, not in its C
accelerator. A run's metric batch of 1,000 points is then the largest CPU cost of a copy (about 40%
of the syncer's own CPU for workload S, docs/BENCHMARKS.md, issue 25). `install()` rebinds
`message_to_json` in MLflow's modules to `compact`, which builds the same JSON value (int64 fields
as numbers, as MLflow's does) and writes it without whitespace. Every check MLflow's client makes
before it renders a body still runs; the server reads the same value (tests/test_compact_json.py).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from google.protobuf.json_format import MessageToDict
from mlflow.utils import proto_json_utils
from mlflow.utils.proto_json_utils import _mark_int64_fields, _merge_json_dicts

from syncer.backends.rebind import rebind

_lock = threading.Lock()
_ORIGINAL = proto_json_utils.message_to_json


def compact(message: Any) -> str:
    """The JSON MLflow's `message_to_json` writes for `message`, without the indentation."""
    value = _merge_json_dicts(
        _mark_int64_fields(message), MessageToDict(message, preserving_proto_field_name=True)
    )
    return json.dumps(value)


def install() -> None:
    """Render MLflow's REST request bodies with `compact` from now on (idempotent)."""
    with _lock:
        rebind(proto_json_utils, "message_to_json", _ORIGINAL, compact)

"""MLflow's settings the syncer chooses for itself, without writing `os.environ`.

MLflow reads each of its settings through an `mlflow.environment_variables` object whose `get()`
answers the environment's value, else the object's `default`. The syncer changes that default: the
user's environment still wins, and child processes inherit the user's environment untouched.
"""

from __future__ import annotations

import mlflow.environment_variables as mlflow_env


def use_default(name: str, value: str) -> None:
    """Make `value` (as it would be spelled in the environment) MLflow's default for the setting
    `name`."""
    var = getattr(mlflow_env, name, None)
    if var is None:  # a setting this MLflow version does not have: nothing reads it
        return
    var.default = value.lower() in ("true", "1") if var.type is bool else var.type(value)

"""The `credentials` option of an end: the names of the environment variables holding its basic-auth
user and password (never the secret itself in the config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class CredentialsEnv(BaseModel):
    """Which variables hold this end's user and password (both ends otherwise read MLflow's
    MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)."""

    model_config = ConfigDict(extra="forbid")

    username_env: str = Field(pattern=_NAME, description="variable holding the user name")
    password_env: str = Field(pattern=_NAME, description="variable holding the password")

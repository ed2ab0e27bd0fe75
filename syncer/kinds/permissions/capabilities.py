"""Who may see and change what on each endpoint profile: the permissions kind's part of
syncer.core.capabilities, looked up there by kind name (`scheme(caps)`)."""

from __future__ import annotations

from syncer.core.capabilities import Capabilities, KindCaps, declare, supports

KIND = "permission"
# "basic-auth" (MLflow's authentication app: per-experiment and per-model grants, read and
# written), "databricks" (the Permissions API, read), "workspace-roles" (Azure roles at workspace
# scope only: each grant is listed with the role that would cover it), None (no permissions: a file
# or SQL store).
SCHEME = "scheme"

PERMISSIONS = declare(
    KindCaps(
        KIND,
        profiles={
            "mlflow": {SCHEME: "basic-auth"},
            "databricks": {SCHEME: "databricks"},
            # No per-experiment or per-model ACL: Azure roles at workspace scope (Azure ML docs,
            # "Manage access to an Azure Machine Learning workspace").
            "azureml": {SCHEME: "workspace-roles"},
        },
    )
)


def scheme(caps: Capabilities) -> str | None:
    """How the end keeps who may see and change what (`SCHEME`), or None."""
    return supports(caps, KIND, SCHEME)

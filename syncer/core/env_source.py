"""Settings from `MLFLOW_SYNCER_<OPTION>` variables, spelled as the flags are: `MLFLOW_SYNCER_DEST`
for
`--dest`, a list as JSON or comma-separated (`MLFLOW_SYNCER_EXPERIMENTS=churn,fraud*`)."""

from __future__ import annotations

import json
from typing import Any, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource

# Option -> its flag's spelling, accepted as a variable too (the option's own name wins when both
# are set).
FLAG_SPELLINGS = {"destination": "dest"}


class EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, with the flags' spellings and plain lists."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """The variable of the option, or of its flag's spelling."""
        value, key, is_complex = super().get_field_value(field, field_name)
        spelling = FLAG_SPELLINGS.get(field_name)
        if value is None and spelling:
            value = self.env_vars.get(f"{self.env_prefix}{spelling}".lower())
        return value, key, is_complex

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        """A list of names may be written without JSON: `a,b*` means `["a", "b*"]`."""
        if isinstance(value, str) and _is_name_list(field) and not value.lstrip().startswith("["):
            return [item.strip() for item in value.split(",") if item.strip()]
        return super().prepare_field_value(field_name, field, value, value_is_complex)


def _is_name_list(field: FieldInfo) -> bool:
    return get_origin(field.annotation) is list and get_args(field.annotation) == (str,)


def variable_problem(field: str, prefix: str = "MLFLOW_SYNCER_") -> str:
    """The one line for a variable whose value cannot be read (not JSON where a mapping or list is
    needed)."""
    example = (
        json.dumps([{"match": "^old/", "replace": "new/"}])
        if field.endswith("names")
        else '{"key": ...}'
    )
    return (
        f"environment variable {prefix}{field.upper()} cannot be read: write its value as JSON, "
        f"e.g. {example}"
    )

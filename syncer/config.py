"""Configuration: flags > environment (MLFLOW_SYNCER_...) > YAML file > defaults. Secrets only from env."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from syncer.core.capabilities import Capabilities
from syncer.core.errors import FatalError
from syncer.core.redact import register_secret

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_URL_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")
_SECRET_NAME = re.compile(r"(?i)pass|token|secret|key|credential|connection_string")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RateLimitConfig(Strict):
    """Requests per second per endpoint class (0: unlimited; unset: the service's documented default)."""

    search: float | None = Field(default=None, ge=0)
    log_batch: float | None = Field(default=None, ge=0)
    other: float | None = Field(default=None, ge=0)


class EndpointConfig(Strict):
    """One end: tracking URI, optional registry URI (a source on Databricks may list two), service profile
    and rate limits."""

    tracking_uri: str
    registry_uri: str | list[str] | None = Field(
        default=None, description="Model registry; a Databricks source may read both: [databricks, databricks-uc]")
    artifact_root: str | None = Field(
        default=None, description="Where new destination experiments keep artifacts (direct stores)")
    profile: Literal["auto", "mlflow", "databricks", "azureml"] = Field(
        default="auto", description="Limits of the service behind the URI (auto: from the URI scheme)")
    rate_limits: RateLimitConfig | None = None

    @field_validator("registry_uri")
    @classmethod
    def _registries(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list):
            if not value:
                raise ValueError("name at least one registry")
            if len(set(value)) != len(value):
                raise ValueError(f"a registry is named twice: {value}")
            return value[0] if len(value) == 1 else value
        return value

    def registry_uris(self) -> list[str]:
        """Every registry URI given (none, one or several)."""
        if isinstance(self.registry_uri, list):
            return self.registry_uri
        return [self.registry_uri] if self.registry_uri else []


class NameRule(Strict):
    """Rewrite experiment names: a regular expression and its replacement (re.sub syntax)."""

    match: str
    replace: str

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value


class MirrorConfig(Strict):
    """The `mirror` service: schedule, deletion guard rails, HTTP status endpoint, shutdown bound."""

    interval: float = Field(default=60.0, gt=0)
    cron: str | None = None
    delete: bool = False
    max_delete: int = Field(default=100, ge=0)
    http_port: int | None = Field(default=None, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    ready_intervals: float = Field(default=3.0, gt=0)
    follow_running_hours: float | None = Field(default=24.0, gt=0)
    verify_every: int = Field(default=0, ge=0, description="every Nth cycle also runs --verify (0: never)")
    shutdown_timeout: float = Field(default=30.0, gt=0)


class Settings(BaseSettings):
    """Every option of mlflow-syncer."""

    model_config = SettingsConfigDict(env_prefix="MLFLOW_SYNCER_", env_nested_delimiter="__", extra="forbid")

    source: EndpointConfig | None = None
    destination: EndpointConfig | None = None
    state: str | None = None
    experiments: list[str] = Field(default_factory=list)
    experiment_names: list[NameRule] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    copy_models: bool = True
    model_names: list[NameRule] = Field(default_factory=list)
    model_stages: Literal["copy", "tag", "skip"] = "copy"
    model_files_experiment: str = "mlflow-syncer-model-files"
    workers: int = Field(default=8, ge=1, le=64)
    deleted: Literal["skip", "mirror"] = "skip"
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    quarantine_after: int = Field(default=3, ge=1)
    # Objects the destination cannot hold: "report" lists and counts them (exit 1); "archive" also writes each
    # as JSON into the destination's mlflow-syncer-archive experiment (docs/MLFLOW3.md).
    unsupported: Literal["report", "archive"] = "report"
    mirror: MirrorConfig = Field(default_factory=MirrorConfig)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))


_CONFIG_FILE: dict[str, Any] = {}


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field, field_name):  # noqa: ANN001, ANN201
        return _CONFIG_FILE.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_CONFIG_FILE)


def _expand(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}" if where else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        if _URL_PASSWORD.search(_ENV_REF.sub("", value)):
            raise FatalError(f"config {where}: a password is written in the file; put it in an environment "
                             "variable and write ${VAR} instead")

        def sub(m: re.Match) -> str:
            if m[1] not in os.environ:
                raise FatalError(f"config {where}: environment variable {m[1]} is not set")
            if _SECRET_NAME.search(m[1]) or _URL_PASSWORD.search(value):
                register_secret(os.environ[m[1]])
            return os.environ[m[1]]

        return _ENV_REF.sub(sub, value)
    return value


def read_file(path: str) -> dict[str, Any]:
    """Read a YAML config file into a dict, expanding ${VAR} references from the environment."""
    p = Path(path)
    if not p.is_file():
        raise FatalError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise FatalError(f"config file {path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise FatalError(f"config file {path} must hold a mapping of options")
    return _expand(data, "")


def _known_fields(loc: tuple) -> list[str]:
    model: Any = Settings
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
        for arg in getattr(model, "__args__", ()) or ():
            if hasattr(arg, "model_fields"):
                model = arg
    return list(getattr(model, "model_fields", {}))


def _explain(err: ValidationError) -> str:
    errors = err.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(str(x) for x in first["loc"])
    where = ".".join(loc)
    if first["type"] == "extra_forbidden":
        close = difflib.get_close_matches(loc[-1], _known_fields(loc), n=1)
        hint = f"; did you mean '{'.'.join(loc[:-1] + (close[0],))}'?" if close else ""
        return f"unknown option '{where}'{hint}"
    if first["type"] == "missing":
        return f"missing option '{where}'"
    return f"option '{where}': {first['msg']}"


def load_settings(config_path: str | None = None, **flags: Any) -> Settings:
    """Build the settings from defaults, the YAML file, the environment and flags (in rising precedence)."""
    global _CONFIG_FILE
    _CONFIG_FILE = read_file(config_path) if config_path else {}
    try:
        settings = Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as err:
        raise FatalError(f"invalid configuration: {_explain(err)}") from None
    finally:
        _CONFIG_FILE = {}
    _register_url_passwords(settings)
    return settings


def _register_url_passwords(settings: Settings) -> None:
    """Passwords inside URLs (state store, tracking URIs) are secrets wherever they came from."""
    urls = [settings.state or ""]
    for end in (settings.source, settings.destination):
        if end is not None:
            urls += [end.tracking_uri, *end.registry_uris(), end.artifact_root or ""]
    for url in urls:
        password = urlsplit(url).password if "://" in url else None
        register_secret(unquote(password) if password else None)
        register_secret(password)


def dest_name(source_name: str, rules: list[NameRule]) -> str:
    """Map a source experiment name to its destination name: the first matching rule applies."""
    for rule in rules:
        if re.search(rule.match, source_name):
            return re.sub(rule.match, rule.replace, source_name)
    return source_name


def name_rules(rules: list[NameRule], source_caps: Capabilities) -> list[NameRule]:
    """The user's experiment-name rules, or else the source's documented default (Databricks: strip
    `/Users/<user>/`, then a leading `/`)."""
    if rules:
        return rules
    return [NameRule(match=m, replace=r) for m, r in source_caps.source_name_rules]

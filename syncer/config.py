"""Configuration: flags > environment (MLFLOW_SYNCER_...) > YAML file > defaults. Secrets only from
env."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from syncer.core import env_knobs
from syncer.core.creds_env import CredentialsEnv
from syncer.core.env_source import EnvSource, variable_problem
from syncer.core.errors import FatalError
from syncer.core.name_rules import NameRule
from syncer.core.name_rules import dest_name as dest_name
from syncer.core.name_rules import name_rules as name_rules
from syncer.core.option_keys import KeyPath
from syncer.core.redact import register_secret
from syncer.core.settings_reading import (
    READING,
    Reading,
    Strict,
    YamlSource,
    known_paths,
    message,
)
from syncer.core.settings_reading import problems as settings_problems

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def seconds(text: str) -> float | None:
    """Seconds from '90', '90s', '5m', '1.5h', '1d' (None: not a duration)."""
    m = _DURATION.match(text)
    return float(m[1]) * _UNIT[m[2]] if m else None


class RateLimitConfig(Strict):
    """Requests per second per endpoint class (0: unlimited; unset: the service's documented
    default)."""

    search: float | None = Field(default=None, ge=0, description="run searches per second")
    experiments: float | None = Field(
        default=None, ge=0, description="experiment listings and updates per second (unset: search)"
    )
    log_batch: float | None = Field(default=None, ge=0, description="log_batch calls per second")
    other: float | None = Field(default=None, ge=0, description="every other call, per second")


class EndpointConfig(Strict):
    """One end: tracking URI, optional registry URI (a source on Databricks may list two), service
    profile and rate limits."""

    tracking_uri: str = Field(
        description="http(s)://, sqlite:///x.db, postgresql://..., ./mlruns, "
        "databricks[://profile], azureml://..."
    )
    registry_uri: str | list[str] | None = Field(
        default=None,
        description="Model registry; a Databricks source may read both: "
        "[databricks, databricks-uc]",
    )
    artifact_root: str | None = Field(
        default=None, description="Where new destination experiments keep artifacts (direct stores)"
    )
    profile: Literal["auto", "mlflow", "databricks", "azureml"] = Field(
        default="auto",
        description="Limits of the service behind the URI (auto: from the URI scheme)",
    )
    rate_limits: RateLimitConfig | None = Field(
        default=None,
        description="requests per second per class (0: unlimited; unset: the service's default)",
    )
    credentials: CredentialsEnv | None = Field(
        default=None,
        description="basic-auth user and password "
        "from these variables (not MLFLOW_TRACKING_USERNAME/PASSWORD)",
    )

    @model_validator(mode="before")
    @classmethod
    def _uri_alone(cls, value: Any) -> Any:
        """`source: URI`, as the --source flag is written, means `source: {tracking_uri: URI}`."""
        return {"tracking_uri": value} if isinstance(value, str) else value

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


class MirrorConfig(Strict):
    """The `mirror` service: schedule, deletion guard rails, HTTP status endpoint, shutdown
    bound."""

    interval: float = Field(
        default=60.0, gt=0, description="seconds between cycles (90, 90s, 5m, 1h)"
    )
    cron: str | None = Field(default=None, description="crontab schedule (UTC) instead of interval")
    delete: bool = Field(
        default=False, description="delete destination runs we created whose source is gone"
    )
    max_delete: int = Field(
        default=100, ge=0, description="a cycle that would delete more deletes nothing"
    )
    http_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="serve /healthz, /readyz, /metrics on this port (unset: off)",
    )
    http_host: str = Field(default="127.0.0.1", description="address the HTTP endpoint binds")
    ready_intervals: float = Field(
        default=3.0,
        gt=0,
        description=("/readyz fails when the last good cycle is older than this many intervals"),
    )
    follow_running_hours: float | None = Field(
        default=24.0,
        gt=0,
        description=("RUNNING runs idle longer than this (crashed jobs) are no longer revisited"),
    )
    verify_every: int = Field(
        default=0, ge=0, description="every Nth cycle also runs --verify (0: never)"
    )
    traces_full_every: int = Field(
        default=10,
        ge=0,
        description=(
            "every Nth cycle reads every trace; the others only those newer than the cursors (0: "
            "only the first)"
        ),
    )
    runs_full_every: int = Field(
        default=10,
        ge=0,
        description=(
            "every Nth cycle reads every run; the others only runs ended since the last clean "
            "cycle or RUNNING "
            "(0: only the first; 1: every cycle)"
        ),
    )
    shutdown_timeout: float = Field(
        default=30.0, gt=0, description="seconds to stop the unit in flight on SIGTERM"
    )

    @field_validator("interval", "shutdown_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """Durations as the flags take them: 90, 90s, 5m, 1h."""
        return (seconds(value) or value) if isinstance(value, str) else value


class ScaleOutConfig(Strict):
    """Where `migrate` and `mirror` run their units of work (docs/SCALE_OUT.md)."""

    engine: Literal["local", "ray"] = Field(
        default="local",
        description="local: threads in this process; "
        "ray: units of work as tasks on a Ray cluster (docs/SCALE_OUT.md)",
    )
    ray_address: str | None = Field(
        default=None,
        description="the Ray cluster (default: RAY_ADDRESS, else a "
        "local one started for the command)",
    )
    range_runs: int = Field(
        default=5_000,
        ge=10,
        le=1_000_000,
        description="an experiment above this many runs "
        "is cut into start-time ranges of about as many runs, one unit each",
    )


class PrincipalsConfig(Strict):
    """The principal map (docs/PERMISSIONS.md): source principal -> destination principal, in `map`
    or a `source,destination` CSV `file`, and the policy for a source principal in neither."""

    map: dict[str, str] = Field(
        default_factory=dict, description="source principal -> destination principal"
    )
    file: str | None = Field(
        default=None, description="a `source,destination` CSV file of more pairs"
    )
    unmapped: Literal["skip", "default", "fail"] = Field(
        default="skip",
        description=(
            "a principal in neither: skip (reported), default (the `default` principal), fail "
            "(before any write)"
        ),
    )
    default: str | None = Field(default=None, description="the principal for `unmapped: default`")

    @model_validator(mode="after")
    def _default_named(self) -> PrincipalsConfig:
        if (self.unmapped == "default") != bool(self.default):
            raise ValueError("`unmapped: default` and `default: <principal>` go together")
        return self


class PermissionsConfig(Strict):
    """Copy experiment and model permissions (`enabled`); `replace`: narrower destination grants are
    overwritten instead of reported as conflicts."""

    enabled: bool = Field(default=False, description="copy experiment and model permissions")
    replace: bool = Field(
        default=False,
        description=(
            "overwrite narrower destination grants instead of reporting them as conflicts"
        ),
    )


class Settings(BaseSettings):
    """Every option of mlflow-syncer."""

    model_config = SettingsConfigDict(
        env_prefix="MLFLOW_SYNCER_", env_nested_delimiter="__", extra="forbid"
    )

    source: EndpointConfig | None = Field(
        default=None, description="where to copy from (a URI or a mapping)"
    )
    destination: EndpointConfig | None = Field(
        default=None, description="where to copy to (a URI or a mapping)"
    )
    state: str | None = Field(
        default=None,
        description=(
            "state store SQLAlchemy URL (unset: $XDG_STATE_HOME/mlflow-syncer/<pair hash>.db, "
            "default ~/.local/state)"
        ),
    )
    experiments: list[str] = Field(
        default_factory=list, description="experiment names or globs ([]: all)"
    )
    experiment_names: list[NameRule] = Field(
        default_factory=list,
        description=(
            "rename experiments on the way (unset: the source's default, e.g. Databricks' "
            "/Users/<user>/ dropped)"
        ),
    )
    models: list[str] = Field(
        default_factory=list,
        description=(
            "registered models (names or globs) to copy besides those made from the selected "
            "experiments' runs"
        ),
    )
    copy_models: bool = Field(
        default=True, description="false (--no-models): leave the model registry alone"
    )
    model_names: list[NameRule] = Field(
        default_factory=list, description="rename models, like experiment_names"
    )
    prompts: list[str] = Field(
        default_factory=lambda: ["*"], description="prompts to copy (globs; []: none)"
    )
    model_stages: Literal["copy", "tag", "skip"] = Field(
        default="copy",
        description=(
            "copy: the stage where the destination has stages, else the tag "
            "mlflow_syncer.source_stage; tag: "
            "always the tag; skip: drop it"
        ),
    )
    model_files_experiment: str = Field(
        default="mlflow-syncer-model-files",
        description=("holds the files of model versions that have no copied run"),
    )
    workers: int = Field(default=8, ge=1, le=64, description="objects copied side by side")
    scan_threads: int = Field(
        default=1, ge=1, le=16, description="run searches in flight at once per end (1: in turn)"
    )
    deleted: Literal["skip", "mirror"] = Field(
        default="skip",
        description=("deleted runs and experiments: skip them, or copy them as deleted"),
    )
    log_format: Literal["auto", "console", "json"] = Field(
        default="auto", description=("auto: console on a terminal, JSON otherwise")
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="log level"
    )
    quarantine_after: int = Field(
        default=3, ge=1, description="failed attempts before an object is set aside"
    )
    unsupported: Literal["report", "archive"] = Field(
        default="report",
        description=(
            "objects the destination cannot hold: report lists and counts them (exit 1); archive "
            "also writes each "
            "as JSON into the destination's mlflow-syncer-archive experiment (docs/MLFLOW3.md)"
        ),
    )
    mirror: MirrorConfig = Field(default_factory=MirrorConfig, description="the mirror service")
    scale_out: ScaleOutConfig = Field(
        default_factory=ScaleOutConfig, description=("where units of work run (docs/SCALE_OUT.md)")
    )
    principals: PrincipalsConfig = Field(
        default_factory=PrincipalsConfig,
        description=(
            "source principal -> destination principal, for permissions and mlflow.user "
            "(docs/PERMISSIONS.md)"
        ),
    )
    permissions: PermissionsConfig = Field(
        default_factory=PermissionsConfig, description="docs/PERMISSIONS.md"
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, EnvSource(settings_cls), YamlSource(settings_cls))


# Spellings accepted in the file besides the option's own (hyphens for underscores are accepted
# everywhere).
ALIASES: dict[KeyPath, str] = {("dest",): "destination"}
# Flags without an option of the same name: what to write in the file instead.
HINTS = {
    "dest": "destination",
    "source_registry": "source.registry_uri",
    "dest_registry": "destination.registry_uri",
    "no_models": "copy_models: false",
}
# Flags that are no option at all.
FLAG_ONLY = {
    "config": "--config names the file itself",
    "once": "--once is a flag of `mirror`",
    "dry_run": "--dry-run is a flag of `migrate`",
    "verify": "--verify is a flag of `migrate`",
}


def load_settings(
    config_path: str | None = None, flag_problems: list[str] = (), **flags: Any
) -> Settings:
    """Build the settings from defaults, the YAML file(s) (`a.yaml:b.yaml`: b over a), the
    environment and flags (in rising precedence).

    Every problem is reported at once, in one line: the file's (unknown or invalid options, with
    their line and a suggestion), the environment's (env_knobs) and the flags' (`flag_problems`,
    conflicting flags).
    """
    problems = [((), text) for text in [*flag_problems, *env_knobs.problems()]]
    paths = config_path.split(":") if config_path else []
    reading = Reading(paths, problems=problems, aliases=ALIASES)
    token = READING.set(reading)
    try:
        settings = Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as err:
        problems += settings_problems(err, set(known_paths(Settings)), HINTS, FLAG_ONLY)
    except SettingsError as err:
        field = re.search(r'field "([^"]+)"', str(err))
        problems.append(((), variable_problem(field[1]) if field else str(err)))
    finally:
        READING.reset(token)
    lines = reading.lines
    if problems:
        raise FatalError(message(config_path, lines, problems))
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

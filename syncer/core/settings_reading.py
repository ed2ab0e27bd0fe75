"""How the settings are read and checked, whatever the model: the YAML files of one load (merged in
order, each line of each key kept) and every problem found, said in one line.

syncer.config builds its `Settings` through these: `YamlSource` is the YAML source it hands to
pydantic-settings, `problems` and `message` word what pydantic refused.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from dataclasses import field as dc_field
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_settings import BaseSettings, YamlConfigSettingsSource

from syncer.core import config_text
from syncer.core.errors import FatalError
from syncer.core.option_keys import KeyPath, generic, line_of, suggest


class Strict(BaseModel):
    """A section of options: a key it does not know is refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class Reading:
    """The files of one settings load, the line of each key read and the problems found."""

    paths: list[str]
    lines: dict[KeyPath, int] = dc_field(default_factory=dict)
    problems: list[tuple[KeyPath, str]] = dc_field(default_factory=list)
    aliases: dict[KeyPath, str] = dc_field(default_factory=dict)  # other spellings of options


READING: ContextVar[Reading | None] = ContextVar("config_files", default=None)


class YamlSource(YamlConfigSettingsSource):
    """pydantic-settings' YAML source over this load's files (later ones merged over earlier ones,
    mapping by mapping), each read bounded (core/config_text) with its ${VAR} expanded."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        self.reading = READING.get() or Reading([])
        self.model = settings_cls  # pydantic-settings reads the files before it keeps it
        super().__init__(settings_cls, yaml_file=self.reading.paths, deep_merge=True)

    @staticmethod
    def _existing_files(files: Any) -> list[str]:
        return list(files or [])  # every file named is read: a missing one is said, not skipped

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            data, lines, problems = config_text.read_options(
                str(file_path), known_paths(self.model), self.reading.aliases
            )
        except FatalError as exc:
            if not self.reading.problems:
                raise
            self.reading.problems.append(((), str(exc)))
            return {}
        self.reading.lines.update(lines)
        self.reading.problems.extend(problems)
        return data

    def __call__(self) -> dict[str, Any]:
        return self.yaml_data  # keys as written (the init source matches names case-blind)


def known_paths(model: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    """Every option's key path, nested ones included (list items as "*")."""
    out: list[KeyPath] = []
    for name, field in model.model_fields.items():
        out.append(prefix + (name,))
        ann = field.annotation
        for member in get_args(ann) if get_origin(ann) in (Union, UnionType) else (ann,):
            is_list = get_origin(member) is list
            inner = get_args(member)[0] if is_list else member
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                out += known_paths(inner, prefix + (name,) + (("*",) if is_list else ()))
    return out


def problems(
    err: ValidationError, known: set[KeyPath], hints: dict[str, str], flag_only: dict[str, str]
) -> list[tuple[KeyPath, str]]:
    """Every problem pydantic found, as (key path, what is wrong), one per option (`known`: every
    option's key path; `hints`, `flag_only`: what to say of an unknown one, see `unknown`)."""
    out: dict[KeyPath, str] = {}
    for e in err.errors():
        path = tuple(str(x) for x in e["loc"])
        while len(path) > 1 and generic(path) not in known and e["type"] != "extra_forbidden":
            path = path[
                :-1
            ]  # a union member's name ("str", "list[str]") ends the location of its errors
        if e["type"] == "extra_forbidden":
            text = unknown(path, known, hints, flag_only)
        elif e["type"] == "missing":
            text = f"missing option '{'.'.join(path)}'"
        else:
            text = f"option '{'.'.join(path)}': {e['msg']}"
        out.setdefault(path, text)
    meant = {
        text.split("did you mean '")[1][:-3] for text in out.values() if "did you mean '" in text
    }
    return [
        (path, text)
        for path, text in out.items()
        if not (text.startswith("missing") and ".".join(path) in meant)
    ]


def unknown(
    path: KeyPath, known: set[KeyPath], hints: dict[str, str], flag_only: dict[str, str]
) -> str:
    """An unknown option, with the option most likely meant (`hints`: flags without an option of
    the same name -> what to write instead; `flag_only`: flags that are no option -> why)."""
    text = f"unknown option '{'.'.join(path)}'"
    flag = flag_only.get(path[-1].replace("-", "_")) if len(path) == 1 else None
    if flag:
        return f"{text} ({flag})"
    hint = suggest(path, known, hints)
    return f"{text} (did you mean '{hint}'?)" if hint else text


def message(
    path: str | None, lines: dict[KeyPath, int], problems: list[tuple[KeyPath, str]]
) -> str:
    """One line naming every problem, each with its line in the file when it comes from there."""
    items = sorted(
        ((line_of(lines, where), text) for where, text in problems), key=lambda x: (x[0] or 0, x[1])
    )
    where = f" in {path}" if path and any(line for line, _ in items) else ""
    count = f" ({len(items)} problems)" if len(items) > 1 else ""
    return f"invalid configuration{where}{count}: " + "; ".join(
        f"line {line}: {text}" if line else text for line, text in items
    )

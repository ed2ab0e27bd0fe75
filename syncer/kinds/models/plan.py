"""The pure planner for registered models: model and model-version actions, in the same Plan as
runs.

A destination version is matched to its source version by provenance tags that
`create_model_version` sets atomically with the version itself; `mlflow_syncer.fingerprint` is the
version's last write, so a version without the current fingerprint is a half-made copy and is
completed (never created again). Where a version's files come from is decided here (`files`):
- `run`: the source lies inside the artifacts of a run that is copied: register from the copied run;
- `logged_model`: the files live in an MLflow 3 logged model and the destination has logged models:
  copy them into a new destination logged model;
- `holder`: anything else (no run, a run that is not copied, a logged model the destination cannot
  hold): copy the files into a holder run in the model-files experiment of the destination.
"""

from __future__ import annotations

from syncer.core.actions import Action, Op
from syncer.core.capabilities import Capabilities, supports
from syncer.core.fitting import expected_version
from syncer.core.model_snapshot import (
    NO_STAGE,
    TAG_SOURCE_MODEL,
    TAG_SOURCE_STAGE,
    TAG_SOURCE_VERSION,
    ModelOptions,
    ModelSnap,
    VersionSnap,
    run_relative_path,
    version_key,
)
from syncer.core.snapshot import TAG_FINGERPRINT, Snapshot, fingerprint, user_tags
from syncer.kinds.logged_models.capabilities import LOGGED_MODELS
from syncer.kinds.logged_models.snapshot import source_model_id


def files_mode(v: VersionSnap, src: Snapshot, copied_runs: set[str], caps: Capabilities) -> str:
    """Where the destination version's files will come from (see the module docstring)."""
    if source_model_id(v.source) is not None:
        return "logged_model" if supports(caps, LOGGED_MODELS.kind) else "holder"
    if v.run_id in copied_runs and run_relative_path(v, src):
        return "run"
    return "holder"


def _actual_version(d: VersionSnap) -> dict:
    tags = dict(sorted(user_tags(d.tags).items()))
    if TAG_SOURCE_STAGE in d.tags:
        tags[TAG_SOURCE_STAGE] = d.tags[TAG_SOURCE_STAGE]
    return {"description": d.description, "tags": tags, "stage": d.stage}


def _version_diff(want: dict, have: dict) -> dict:
    diff: dict = {}
    if want["description"] != have["description"]:
        diff["description"] = True
    changed = sorted(k for k, v in want["tags"].items() if have["tags"].get(k) != v)
    removed = sorted(k for k in have["tags"] if k not in want["tags"])
    if changed:
        diff["tags"] = changed
    if removed:
        diff["tags_removed"] = removed
    if want["stage"] != have["stage"]:
        diff["stage"] = want["stage"]
    return diff


def _copies(model: ModelSnap, dest: ModelSnap | None) -> tuple[dict[str, list[VersionSnap]], int]:
    """Destination versions by the source version they copy, and how many versions are not
    copies."""
    copies: dict[str, list[VersionSnap]] = {}
    foreign = 0
    for d in dest.ordered_versions() if dest else []:
        if d.tags.get(TAG_SOURCE_MODEL) == model.name and TAG_SOURCE_VERSION in d.tags:
            copies.setdefault(d.tags[TAG_SOURCE_VERSION], []).append(d)
        else:
            foreign += 1
    return copies, foreign


def _plan_version(
    model: ModelSnap,
    dest_name: str,
    v: VersionSnap,
    copies: list[VersionSnap],
    mode: str,
    caps: Capabilities,
    options: ModelOptions,
) -> Action:
    want = expected_version(v, caps, options)
    fp = fingerprint({**want, "files": mode, "source_run": v.run_id})
    base = dict(
        kind="model_version",
        label=f"{dest_name}/v{v.version}",
        source_id=version_key(model.name, v.version),
        fingerprint=fp,
    )
    if ("model_version", base["source_id"]) in options.quarantined:
        return Action(
            op=Op.ERROR, details={"reason": "quarantined after repeated failures"}, **base
        )
    if v.status != "READY":
        return Action(
            op=Op.ERROR, details={"reason": f"source version is {v.status}, not READY"}, **base
        )
    if not copies:
        return Action(
            op=Op.CREATE,
            details={
                "files": mode,
                **({"stage": want["stage"]} if want["stage"] != NO_STAGE else {}),
            },
            **base,
        )
    dest = copies[0]
    base["dest_id"] = dest.version
    if len(copies) > 1:
        return Action(
            op=Op.CONFLICT,
            details={
                "reason": f"{len(copies)} copies in the destination",
                "dest_versions": [c.version for c in copies],
            },
            **base,
        )
    diff = _version_diff(want, _actual_version(dest))
    if dest.tags.get(TAG_FINGERPRINT) != fp:
        diff["resume"] = True
    if diff and dest.version != v.version:
        diff["dest_version"] = dest.version
    return Action(op=Op.UPDATE if diff else Op.SAME, details=diff, **base)


def _collision(model: ModelSnap, dest_name: str, sources: list[str]) -> str | None:
    """Why a source model cannot be copied under its destination name, if it cannot."""
    if model.clash:
        return (
            f"'{model.name}' is in {len(model.clash)} source registries "
            f"({', '.join(model.clash)}): "
            "read only one of them, or copy it by hand"
        )
    if len(sources) > 1:
        return f"several source models map to '{dest_name}': {', '.join(sorted(sources))}"
    return None


def _plan_model(
    model: ModelSnap,
    dest_name: str,
    dest: ModelSnap | None,
    copies: dict[str, list[VersionSnap]],
    foreign: int,
    options: ModelOptions,
    collision: str | None,
) -> Action:
    base = dict(kind="model", label=dest_name, source_id=model.name)
    if ("model", model.name) in options.quarantined:
        return Action(
            op=Op.ERROR, details={"reason": "quarantined after repeated failures"}, **base
        )
    if collision:
        return Action(op=Op.ERROR, details={"reason": collision}, **base)
    to_source = {c.version: sv for sv, cs in copies.items() for c in cs}
    if dest is None:
        details = {"versions": len(model.versions), "aliases": sorted(model.aliases)}
        return Action(op=Op.CREATE, details={k: v for k, v in details.items() if v}, **base)
    details: dict = {}
    if model.description != dest.description:
        details["description"] = True
    tags = sorted(k for k, v in user_tags(model.tags).items() if dest.tags.get(k) != v)
    if tags:
        details["tags"] = tags
    aliases = sorted(
        a for a, sv in model.aliases.items() if to_source.get(dest.aliases.get(a, "")) != sv
    )
    if aliases:
        details["aliases"] = aliases
    removed = sorted(
        a for a, dv in dest.aliases.items() if a not in model.aliases and dv in to_source
    )
    if removed:
        details["aliases_removed"] = removed
    if foreign:
        details["foreign_versions"] = foreign
        details["note"] = (
            "destination holds versions not copied from this model: version numbers differ"
        )
    op = Op.UPDATE if details.keys() - {"foreign_versions", "note"} else Op.SAME
    return Action(op=op, dest_id=dest_name, details=details, **base)


def _plan_extra(
    model: ModelSnap, dest_name: str, copies: dict[str, list[VersionSnap]]
) -> list[Action]:
    return [
        Action(
            kind="model_version",
            op=Op.EXTRA,
            label=f"{dest_name}/v{d.version}",
            source_id=version_key(model.name, sv),
            dest_id=d.version,
            details={"reason": "no longer in the source"},
        )
        for sv, cs in sorted(copies.items())
        if sv not in model.versions
        for d in cs
    ]


def plan_models(
    src: Snapshot,
    dst_models: dict[str, ModelSnap],
    names: dict[str, str],
    copied_runs: set[str],
    caps: Capabilities,
    options: ModelOptions | None = None,
) -> list[Action]:
    """Plan every selected source model (`src.part("model")`) into the destination.

    `names` maps source model names to destination names; `copied_runs` holds the source ids of the
    runs the plan copies (or already copied). Per model: the model action first, then its versions
    in source order (the executor applies the model's description, tags and aliases after its
    versions).
    """
    options = options or ModelOptions()
    actions: list[Action] = []
    sources: dict[str, list[str]] = {}
    for source_name, name in names.items():
        sources.setdefault(name, []).append(source_name)
    for model in sorted(src.part("model").values(), key=lambda m: m.name):
        dest_name = names[model.name]
        dest = dst_models.get(dest_name)
        copies, foreign = _copies(model, dest)
        model_action = _plan_model(
            model,
            dest_name,
            dest,
            copies,
            foreign,
            options,
            _collision(model, dest_name, sources[dest_name]),
        )
        actions.append(model_action)
        if model_action.op is Op.ERROR:
            continue
        next_number = max((d.number for d in dest.versions.values()), default=0) + 1 if dest else 1
        for v in model.ordered_versions():
            mode = files_mode(v, src, copied_runs, caps)
            action = _plan_version(
                model, dest_name, v, copies.get(v.version, []), mode, caps, options
            )
            if action.op is Op.CREATE:
                if next_number != v.number:
                    action.details["dest_version"] = next_number
                next_number += 1
            actions.append(action)
        actions.extend(_plan_extra(model, dest_name, copies))
    return actions

"""Apply the prompt actions of a plan: per prompt, its versions in source order, then its own tags
and aliases.

Order of writes for a version: `create_prompt_version` carrying the template, commit message,
response format, model config, the user tags and the provenance tags (one atomic write) -> tags
changed since -> the links of the copied runs and logged models that name it
(`mlflow.linkedPrompts`, remapped) -> fingerprint tag (last). Prompts are applied one after another:
a run naming several versions gets its link tag rewritten whole by each, the last write naming them
all. Writes go through the client's own calls (never `link_prompt_version_to_run` or `_to_model`,
which write to the process-wide tracking server, not the client's).
"""

from __future__ import annotations

from itertools import groupby

import structlog
from mlflow.exceptions import MlflowException

from syncer.apply.context import Context
from syncer.apply.runs import RunStats
from syncer.apply.units import Outcome, Units, versions_then_parent
from syncer.backends.calls import call
from syncer.core.actions import Action, Op
from syncer.core.errors import SyncError
from syncer.core.snapshot import TAG_FINGERPRINT, TAG_SOURCE
from syncer.kinds.prompts.snapshot import (
    EXPERIMENT_IDS,
    LINKED_PROMPTS,
    TAG_SOURCE_PROMPT,
    TAG_SOURCE_PROMPT_VERSION,
    PromptSnap,
    PromptVersionSnap,
    experiment_ids,
    experiment_ids_value,
    linked_prompts,
    linked_prompts_value,
    prompt_of,
    prompt_version_key,
    user_tags,
)
from syncer.state.store import IN_PROGRESS

log = structlog.get_logger("syncer.prompts")


def ensure_prompt(ctx: Context, prompt: PromptSnap) -> None:
    """Create the destination prompt (with its description and tags) unless it exists."""
    if ctx.dest_id("prompt", prompt.name):
        return
    ctx.guard()
    client = ctx.dst.client
    tags = {**user_tags(prompt.tags), TAG_SOURCE_PROMPT: prompt.name, TAG_SOURCE: ctx.src.identity}
    try:
        call(
            ctx.dst,
            "create_prompt",
            lambda: client.create_prompt(
                prompt.name, description=prompt.description or None, tags=tags
            ),
        )
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        if call(ctx.dst, "get_prompt", lambda: client.get_prompt(prompt.name)) is None:
            raise SyncError(
                f"the destination holds a registered model named '{prompt.name}': not a prompt"
            ) from None
    ctx.map_id("prompt", prompt.name, prompt.name)


def _create_version(ctx: Context, prompt: PromptSnap, v: PromptVersionSnap, action: Action) -> str:
    ensure_prompt(ctx, prompt)
    content = v.content()
    tags = {
        **user_tags(v.tags),
        TAG_SOURCE_PROMPT: prompt.name,
        TAG_SOURCE_PROMPT_VERSION: v.version,
        TAG_SOURCE: ctx.src.identity,
    }
    ctx.guard()
    pv = call(
        ctx.dst,
        "create_prompt_version",
        lambda: ctx.dst.client.create_prompt_version(
            prompt.name,
            content["template"],
            description=v.commit_message or None,
            tags=tags,
            response_format=content["response_format"],
            model_config=content["model_config"],
        ),
    )
    ctx.state.record("prompt_version", action.source_id, f"{prompt.name}/{pv.version}", IN_PROGRESS)
    return str(pv.version)


def link_runs(ctx: Context, source_runs: list[str]) -> None:
    """Write each copied run's `mlflow.linkedPrompts`, naming the destination versions copied so
    far."""
    for run_id in source_runs:
        run = ctx.src_snap.runs[run_id]
        dest_run = ctx.dest_id("run", run_id)
        if dest_run is None:
            log.warning("prompt link not written: run not copied", run=run_id)
            continue
        entries = [
            (name, ctx.dest_id("prompt_version", prompt_version_key(name, version)))
            for name, version in linked_prompts(run.tags.get(LINKED_PROMPTS))
        ]
        value = linked_prompts_value([(name, number) for name, number in entries if number])
        ctx.guard()
        call(
            ctx.dst,
            "link_prompts_to_run",
            lambda r=dest_run, val=value: ctx.dst.client.set_tag(r, LINKED_PROMPTS, val),
        )


def link_models(ctx: Context, source_models: list[str]) -> None:
    """Write each copied logged model's `mlflow.linkedPrompts`, naming the destination versions
    copied so far."""
    for model_id in source_models:
        dest_model = ctx.dest_id("logged_model", model_id)
        if dest_model is None:
            log.warning("prompt link not written: logged model not copied", model=model_id)
            continue
        tags = getattr(ctx.src_snap.part("logged_model")[model_id], "tags", {})
        entries = [
            (name, ctx.dest_id("prompt_version", prompt_version_key(name, version)))
            for name, version in linked_prompts(tags.get(LINKED_PROMPTS))
        ]
        value = linked_prompts_value([(name, number) for name, number in entries if number])
        ctx.guard()
        call(
            ctx.dst,
            "link_prompts_to_model",
            lambda m=dest_model, val=value: ctx.dst.client.set_logged_model_tags(
                m, {LINKED_PROMPTS: val}
            ),
        )


def copy_version(ctx: Context, action: Action) -> tuple[str, RunStats]:
    """Create or complete the destination copy of one source prompt version. Returns
    'name/number'."""
    name, version = action.source_id.rsplit("/", 1)
    prompt = ctx.src_snap.part("prompt")[name]
    v = prompt.versions[version]
    client = ctx.dst.client
    number = (
        _create_version(ctx, prompt, v, action) if action.op is Op.CREATE else action.dest_id or ""
    )
    ctx.map_id("prompt_version", action.source_id, number)
    ctx.guard()
    for key in action.details.get("tags", []):
        call(
            ctx.dst,
            "set_prompt_version_tag",
            lambda k=key: client.set_prompt_version_tag(name, number, k, v.tags[k]),
        )
    for key in action.details.get("tags_removed", []):
        call(
            ctx.dst,
            "delete_prompt_version_tag",
            lambda k=key: client.delete_prompt_version_tag(name, number, k),
        )
    link_runs(ctx, action.details.get("links", []))
    link_models(ctx, action.details.get("model_links", []))
    call(
        ctx.dst,
        "set_prompt_version_tag",
        lambda: client.set_prompt_version_tag(
            name, number, TAG_FINGERPRINT, action.fingerprint or ""
        ),
    )
    return f"{name}/{number}", RunStats()


def _experiments(ctx: Context, prompt: PromptSnap, have: PromptSnap | None) -> None:
    """Write the prompt's experiment links, naming the destination copies of the selected
    experiments."""
    ids = [
        ctx.dest_id("experiment", i)
        for i in experiment_ids(prompt.tags.get(EXPERIMENT_IDS))
        if i in ctx.src_snap.experiments
    ]
    ids = [i for i in ids if i]
    client = ctx.dst.client
    if ids:
        call(
            ctx.dst,
            "set_prompt_tag",
            lambda: client.set_prompt_tag(prompt.name, EXPERIMENT_IDS, experiment_ids_value(ids)),
        )
    elif have is not None and EXPERIMENT_IDS in have.tags:
        call(
            ctx.dst,
            "delete_prompt_tag",
            lambda: client.delete_prompt_tag(prompt.name, EXPERIMENT_IDS),
        )


def update_prompt(ctx: Context, action: Action) -> tuple[str, RunStats]:
    """Bring a destination prompt's tags, experiment links and aliases in line with the source."""
    prompt = ctx.src_snap.part("prompt")[action.source_id]
    name, client = prompt.name, ctx.dst.client
    if action.op is Op.CREATE:
        ensure_prompt(ctx, prompt)
    have = ctx.dst_snap.part("prompt").get(name)
    ctx.guard()
    for key in action.details.get("tags", []):
        call(
            ctx.dst, "set_prompt_tag", lambda k=key: client.set_prompt_tag(name, k, prompt.tags[k])
        )
    for key in action.details.get("tags_removed", []):
        call(ctx.dst, "delete_prompt_tag", lambda k=key: client.delete_prompt_tag(name, k))
    if action.op is Op.CREATE or action.details.get("experiments"):
        _experiments(ctx, prompt, have)
    for alias, source_version in sorted(prompt.aliases.items()):
        number = ctx.dest_id("prompt_version", prompt_version_key(name, source_version))
        if number is None:
            raise SyncError(f"alias {alias}: version {source_version} was not copied")
        if have is None or have.aliases.get(alias) != number:
            call(
                ctx.dst,
                "set_prompt_alias",
                lambda a=alias, n=number: client.set_prompt_alias(name, a, int(n)),
            )
    for alias in action.details.get("aliases_removed", []):
        call(ctx.dst, "delete_prompt_alias", lambda a=alias: client.delete_prompt_alias(name, a))
    return name, RunStats()


def _apply_prompt(ctx: Context, group: list[Action], units: Units) -> list[Outcome]:
    """One prompt: its versions in source order, then its own fields. Returns the units'
    outcomes."""
    return versions_then_parent(
        units, group, "prompt", lambda a: copy_version(ctx, a), lambda a: update_prompt(ctx, a)
    )


def apply_prompts(ctx: Context, actions: list[Action], units: Units) -> None:
    """Apply the prompt and prompt-version actions, prompt after prompt (see the module
    docstring)."""
    actions = [a for a in actions if a.op is not Op.UNCOPIED]
    for a in actions:
        if a.dest_id and a.source_id and a.op is not Op.EXTRA:
            ctx.map_id(a.kind, a.source_id, a.dest_id)
    for _name, group in groupby(actions, key=lambda a: prompt_of(a.source_id or "", a.kind)):
        group = list(group)
        if any(a.mutates for a in group):
            for outcome in _apply_prompt(ctx, group, units):
                units.record(outcome)

"""The pure planner for prompts: prompt and prompt-version actions, in the same Plan as runs and
models.

A destination prompt version is matched to its source version by the provenance tags that
`create_prompt_version` sets atomically with the version itself, never by number (a destination that
already held versions numbers the copies differently). `mlflow_syncer.fingerprint` is the version's
last write: a version without the current fingerprint is a half-made copy and is completed, never
created again. A version's content (template, commit message, response format, model config) is
immutable: a copy whose content differs is a conflict. Links are remapped: a copied run's or logged
model's `mlflow.linkedPrompts` names the destination numbers of the copied versions, a prompt's
`_mlflow_experiment_ids` the copied experiments. A destination without a prompt API gets `!` lines
counting what is not copied, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncer.core.actions import Action, Op
from syncer.core.capabilities import Capabilities, supports
from syncer.core.snapshot import (
    TAG_FINGERPRINT,
    TAG_SOURCE_EXPERIMENT_ID,
    TAG_SOURCE_RUN_ID,
    Snapshot,
)
from syncer.kinds.prompts.capabilities import KIND
from syncer.kinds.prompts.snapshot import (
    EXPERIMENT_IDS,
    LINKED_PROMPTS,
    TAG_SOURCE_PROMPT,
    TAG_SOURCE_PROMPT_VERSION,
    PromptSnap,
    PromptVersionSnap,
    experiment_ids,
    linked_prompts,
    prompt_version_key,
    uc_schemas,
    user_tags,
    version_fingerprint,
)
from syncer.plan.uncopied import missing_api, uncopied, unlisted

Copies = dict[str, list[PromptVersionSnap]]


def copies_of(prompt: PromptSnap, dest: PromptSnap | None) -> tuple[Copies, int]:
    """Destination versions by the source version they copy, and how many versions are not
    copies."""
    copies: Copies = {}
    foreign = 0
    for d in dest.ordered_versions() if dest else []:
        if d.tags.get(TAG_SOURCE_PROMPT) == prompt.name and TAG_SOURCE_PROMPT_VERSION in d.tags:
            copies.setdefault(d.tags[TAG_SOURCE_PROMPT_VERSION], []).append(d)
        else:
            foreign += 1
    return copies, foreign


@dataclass
class _Links:
    """Which copied runs (or logged models) each source prompt version must (re)link: version key ->
    source ids."""

    by_version: dict[str, list[str]]

    def of(self, name: str, version: str) -> list[str]:
        return sorted(set(self.by_version.get(prompt_version_key(name, version), [])))


def _links(
    linkers: list[tuple[str, str, str | None]], src: Snapshot, copies: dict[str, Copies]
) -> _Links:
    """`linkers`: (source id, source `mlflow.linkedPrompts`, its copy's value or None when not
    copied yet)."""
    by_version: dict[str, list[str]] = {}
    for source_id, value, dest_value in linkers:
        prompts = src.part("prompt")
        entries = [
            (n, v) for n, v in linked_prompts(value) if n in prompts and v in prompts[n].versions
        ]
        if not entries:
            continue
        numbers = [(n, [c.version for c in copies[n].get(v, [])]) for n, v in entries]
        pending = [
            prompt_version_key(*e)
            for e, (_n, found) in zip(entries, numbers, strict=True)
            if not found
        ]
        for key in pending:  # each create writes the link; the last one writes them all
            by_version.setdefault(key, []).append(source_id)
        if pending:
            continue
        want = sorted({(n, found[0]) for n, found in numbers})
        if want != sorted(set(linked_prompts(dest_value))):
            by_version.setdefault(prompt_version_key(*entries[0]), []).append(source_id)
    return _Links(by_version)


def _run_links(
    src: Snapshot, dst: Snapshot, copied_runs: set[str], copies: dict[str, Copies]
) -> _Links:
    dest_runs = {
        r.tags[TAG_SOURCE_RUN_ID]: r for r in dst.runs.values() if TAG_SOURCE_RUN_ID in r.tags
    }
    return _links(
        [
            (
                run.run_id,
                run.tags[LINKED_PROMPTS],
                dest_runs[run.run_id].tags.get(LINKED_PROMPTS) if run.run_id in dest_runs else None,
            )
            for run in src.runs.values()
            if LINKED_PROMPTS in run.tags and run.run_id in copied_runs
        ],
        src,
        copies,
    )


def _model_links(src: Snapshot, dst: Snapshot, copies: dict[str, Copies]) -> _Links:
    """The selected source logged models' links (`mlflow.linkedPrompts` tag), against their first
    copy's."""
    linkers = []
    for model_id, lm in src.part("logged_model").items():
        value = getattr(lm, "tags", {}).get(LINKED_PROMPTS)
        if value:
            found = dst.part("logged_model").get(model_id) or []
            linkers.append((model_id, value, found[0].tags.get(LINKED_PROMPTS) if found else None))
    return _links(linkers, src, copies)


def _plan_version(
    prompt: PromptSnap,
    v: PromptVersionSnap,
    copies: list[PromptVersionSnap],
    links: dict[str, list[str]],
    quarantined: frozenset[tuple[str, str]],
) -> Action:
    base = dict(
        kind="prompt_version",
        label=f"{prompt.name}/v{v.version}",
        source_id=prompt_version_key(prompt.name, v.version),
        fingerprint=version_fingerprint(v),
    )
    if ("prompt_version", base["source_id"]) in quarantined:
        return Action(
            op=Op.ERROR, details={"reason": "quarantined after repeated failures"}, **base
        )
    links = {k: ids for k, ids in links.items() if ids}
    if not copies:
        return Action(op=Op.CREATE, details=links, **base)
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
    if dest.content() != v.content():
        return Action(
            op=Op.CONFLICT,
            details={
                "reason": f"destination v{dest.version} holds other content (a version's content "
                f"cannot change)"
            },
            **base,
        )
    want, have = user_tags(v.tags), user_tags(dest.tags)
    details: dict = {}
    changed = sorted(k for k, val in want.items() if have.get(k) != val)
    removed = sorted(k for k in have if k not in want)
    for key, value in (("tags", changed), ("tags_removed", removed)):
        if value:
            details[key] = value
    details.update(links)
    if dest.tags.get(TAG_FINGERPRINT) != base["fingerprint"]:
        details["resume"] = True
    if details and dest.version != v.version:
        details["dest_version"] = dest.version
    return Action(op=Op.UPDATE if details else Op.SAME, details=details, **base)


def _to_source(src: Snapshot, dst: Snapshot, dest_names: dict[str, str]) -> dict[str, str | None]:
    """Destination experiment id -> the source experiment it copies: the one whose destination name
    it has (how experiments are matched: `Default` and experiments that existed before carry no
    provenance tag), else its provenance tag."""
    by_name = {e.name: eid for eid, e in dst.experiments.items()}
    named = {
        by_name[name]: sid
        for sid, name in dest_names.items()
        if name in by_name and sid in src.experiments
    }
    return {
        eid: named.get(eid) or e.tags.get(TAG_SOURCE_EXPERIMENT_ID)
        for eid, e in dst.experiments.items()
    }


def _experiments_differ(
    prompt: PromptSnap, dest: PromptSnap, src: Snapshot, dst: Snapshot, dest_names: dict[str, str]
) -> bool:
    """Whether the destination prompt's experiment links differ from the source's, compared as
    source ids."""
    want = sorted(
        i for i in experiment_ids(prompt.tags.get(EXPERIMENT_IDS)) if i in src.experiments
    )
    to_source = _to_source(src, dst, dest_names)
    have = sorted(
        to_source.get(i) or f"dest:{i}" for i in experiment_ids(dest.tags.get(EXPERIMENT_IDS))
    )
    return want != have


def _plan_prompt(
    prompt: PromptSnap,
    dest: PromptSnap | None,
    copies: Copies,
    foreign: int,
    src: Snapshot,
    dst: Snapshot,
    quarantined: frozenset[tuple[str, str]],
    dest_names: dict[str, str],
) -> Action:
    base = dict(kind="prompt", label=prompt.name, source_id=prompt.name)
    if ("prompt", prompt.name) in quarantined:
        return Action(
            op=Op.ERROR, details={"reason": "quarantined after repeated failures"}, **base
        )
    if dest is None:
        details = {"versions": len(prompt.versions), "aliases": sorted(prompt.aliases)}
        return Action(op=Op.CREATE, details={k: v for k, v in details.items() if v}, **base)
    want, have = user_tags(prompt.tags), user_tags(dest.tags)
    to_source = {c.version: sv for sv, cs in copies.items() for c in cs}
    details: dict = {
        "tags": sorted(k for k, v in want.items() if have.get(k) != v),
        "tags_removed": sorted(k for k in have if k not in want),
        "experiments": _experiments_differ(prompt, dest, src, dst, dest_names),
        "aliases": sorted(
            a for a, sv in prompt.aliases.items() if to_source.get(dest.aliases.get(a, "")) != sv
        ),
        "aliases_removed": sorted(
            a for a, dv in dest.aliases.items() if a not in prompt.aliases and dv in to_source
        ),
    }
    details = {k: v for k, v in details.items() if v}
    op = Op.UPDATE if details else Op.SAME
    if foreign:
        details.update(
            foreign_versions=foreign,
            note="destination holds versions not copied from this prompt: version numbers differ",
        )
    return Action(op=op, dest_id=prompt.name, details=details, **base)


def _plan_extra(prompt: PromptSnap, copies: Copies) -> list[Action]:
    return [
        Action(
            kind="prompt_version",
            op=Op.EXTRA,
            label=f"{prompt.name}/v{d.version}",
            source_id=prompt_version_key(prompt.name, sv),
            dest_id=d.version,
            details={"reason": "no longer in the source"},
        )
        for sv, cs in sorted(copies.items())
        if sv not in prompt.versions
        for d in cs
    ]


def plan_prompts(
    src: Snapshot,
    dst: Snapshot,
    copied_runs: set[str],
    caps: Capabilities,
    quarantined: frozenset[tuple[str, str]] = frozenset(),
    dest_names: dict[str, str] | None = None,
) -> list[Action]:
    """Plan every selected source prompt (`src.part("prompt")`) into the destination
    (`dst.part("prompt")`), same names.

    `copied_runs` holds the source ids of the runs the plan copies (or already copied): their links
    to prompt versions are remapped, as are those of the selected logged models
    (`src.part("logged_model")`). `dest_names` maps source experiment ids to destination names
    (experiment links are compared through it). Per prompt: the prompt action first, then its
    versions in source order (the executor writes the prompt's tags and aliases after its versions,
    since aliases point at them).
    """
    prompts: list[PromptSnap] = sorted(src.part("prompt").values(), key=lambda p: p.name)
    if not prompts:
        return []
    if not supports(caps, KIND):
        versions = sum(len(p.versions) for p in prompts)
        return [
            uncopied("prompt", len(prompts), missing_api("prompt", caps)),
            *(
                [uncopied("prompt_version", versions, missing_api("prompt", caps))]
                if versions
                else []
            ),
        ]
    matched = {p.name: copies_of(p, dst.part("prompt").get(p.name)) for p in prompts}
    by_name = {name: c for name, (c, _f) in matched.items()}
    runs, models = _run_links(src, dst, copied_runs, by_name), _model_links(src, dst, by_name)
    actions: list[Action] = []
    for prompt in prompts:
        copies, foreign = matched[prompt.name]
        prompt_action = _plan_prompt(
            prompt,
            dst.part("prompt").get(prompt.name),
            copies,
            foreign,
            src,
            dst,
            quarantined,
            dest_names or {},
        )
        actions.append(prompt_action)
        if prompt_action.op is Op.ERROR:
            continue
        dest = dst.part("prompt").get(prompt.name)
        actions += _plan_versions(prompt, dest, copies, (runs, models), quarantined)
        actions.extend(_plan_extra(prompt, copies))
    return actions


def _plan_versions(
    prompt: PromptSnap,
    dest: PromptSnap | None,
    copies: Copies,
    links: tuple[_Links, _Links],
    quarantined: frozenset[tuple[str, str]],
) -> list[Action]:
    """One prompt's versions in source order; a created version takes the destination's next
    number (`dest_version` when it differs from the source's). `links`: the run and model links."""
    runs, models = links
    next_number = max((d.number for d in dest.versions.values()), default=0) + 1 if dest else 1
    actions = []
    for v in prompt.ordered_versions():
        found = {
            "links": runs.of(prompt.name, v.version),
            "model_links": models.of(prompt.name, v.version),
        }
        action = _plan_version(prompt, v, copies.get(v.version, []), found, quarantined)
        if action.op is Op.CREATE:
            if next_number != v.number:
                action.details["dest_version"] = next_number
            next_number += 1
        actions.append(action)
    return actions


def unsearchable_prompts(globs: list[str]) -> list[Action]:
    """For a source whose prompts live in Unity Catalog: one `cannot be listed here` row when a
    prompt glob names no literal catalog.schema (Unity Catalog searches prompts one schema at a
    time)."""
    _schemas, unsearchable = uc_schemas(globs)
    if not unsearchable:
        return []
    return [
        unlisted(
            "prompt",
            f"Unity Catalog prompts are searched per catalog.schema; {', '.join(unsearchable)} "
            "names none (select them as catalog.schema.* with --prompts)",
        )
    ]

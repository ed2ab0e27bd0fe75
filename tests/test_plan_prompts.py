"""Planner decisions for prompts and prompt versions, on plain data (no server)."""

from __future__ import annotations

from syncer.core.actions import Op
from syncer.core.capabilities import AZURE_ML, PLAIN_MLFLOW
from syncer.core.snapshot import TAG_FINGERPRINT, TAG_SOURCE_RUN_ID, RunSnap, Snapshot
from syncer.kinds.prompts.plan import plan_prompts
from syncer.kinds.prompts.snapshot import (
    LINKED_PROMPTS,
    TAG_SOURCE_PROMPT,
    TAG_SOURCE_PROMPT_VERSION,
    PromptSnap,
    PromptVersionSnap,
    linked_prompts_value,
    version_fingerprint,
)


def _source() -> Snapshot:
    snap = Snapshot(identity="src")
    versions = {
        str(n): PromptVersionSnap(
            str(n), f"template {n} {{{{q}}}}", commit_message=f"c{n}", tags={"author": "ann"}
        )
        for n in (1, 2, 3)
    }
    snap.part("prompt")["qa"] = PromptSnap("qa", "d", {"team": "x"}, {"production": "2"}, versions)
    snap.runs["r1"] = RunSnap(
        "r1",
        "1",
        "run",
        "FINISHED",
        1,
        2,
        "active",
        "a",
        tags={LINKED_PROMPTS: linked_prompts_value([("qa", "2")])},
    )
    return snap


def _copy(v: PromptVersionSnap, number: str, fingerprint: bool = True) -> PromptVersionSnap:
    tags = {**v.tags, TAG_SOURCE_PROMPT: "qa", TAG_SOURCE_PROMPT_VERSION: v.version}
    if fingerprint:
        tags[TAG_FINGERPRINT] = version_fingerprint(v)
    return PromptVersionSnap(number, v.template, v.chat, v.commit_message, tags=tags)


def _dest(src: Snapshot, numbers: dict[str, str], foreign: int = 0) -> Snapshot:
    dst = Snapshot(identity="dst")
    prompt = PromptSnap("qa", tags={"team": "x"})
    for n in range(1, foreign + 1):
        prompt.versions[str(n)] = PromptVersionSnap(str(n), "hand-made")
    for source, number in numbers.items():
        prompt.versions[number] = _copy(src.part("prompt")["qa"].versions[source], number)
    prompt.aliases = {"production": numbers["2"]} if "2" in numbers else {}
    dst.part("prompt")["qa"] = prompt
    dst.runs["d1"] = RunSnap(
        "d1",
        "9",
        "run",
        "FINISHED",
        1,
        2,
        "active",
        "a",
        tags={
            TAG_SOURCE_RUN_ID: "r1",
            LINKED_PROMPTS: linked_prompts_value([("qa", numbers.get("2", "?"))]),
        },
    )
    return dst


def _ops(actions) -> list[tuple[str, str, Op]]:
    return [(a.kind, a.label, a.op) for a in actions]


def test_new_versions_after_foreign_ones_get_other_numbers_and_link_the_run():
    src = _source()
    dst = _dest(src, {}, foreign=1)
    actions = plan_prompts(src, dst, {"r1"}, PLAIN_MLFLOW)
    assert _ops(actions) == [
        ("prompt", "qa", Op.UPDATE),
        ("prompt_version", "qa/v1", Op.CREATE),
        ("prompt_version", "qa/v2", Op.CREATE),
        ("prompt_version", "qa/v3", Op.CREATE),
    ]
    assert [a.details.get("dest_version") for a in actions[1:]] == [2, 3, 4]
    assert actions[2].details["links"] == ["r1"] and actions[0].details["aliases"] == ["production"]


def test_an_exact_copy_with_shifted_numbers_is_the_same():
    src = _source()
    actions = plan_prompts(
        src, _dest(src, {"1": "2", "2": "3", "3": "4"}, foreign=1), {"r1"}, PLAIN_MLFLOW
    )
    assert {a.op for a in actions} == {Op.SAME}
    assert actions[0].details["foreign_versions"] == 1


def test_a_half_made_copy_is_completed_never_created_again():
    src = _source()
    dst = _dest(src, {"1": "1", "2": "2"})
    dst.part("prompt")["qa"].versions["2"] = _copy(
        src.part("prompt")["qa"].versions["2"], "2", fingerprint=False
    )
    actions = plan_prompts(src, dst, {"r1"}, PLAIN_MLFLOW)
    assert _ops(actions)[1:] == [
        ("prompt_version", "qa/v1", Op.SAME),
        ("prompt_version", "qa/v2", Op.UPDATE),
        ("prompt_version", "qa/v3", Op.CREATE),
    ]
    assert actions[2].details == {"resume": True}


def test_a_run_link_naming_source_numbers_is_rewritten():
    src = _source()
    dst = _dest(src, {"1": "2", "2": "3", "3": "4"}, foreign=1)
    dst.runs["d1"].tags[LINKED_PROMPTS] = linked_prompts_value([("qa", "2")])  # the source's number
    actions = plan_prompts(src, dst, {"r1"}, PLAIN_MLFLOW)
    assert [(a.label, a.op, a.details) for a in actions if a.op is not Op.SAME] == [
        ("qa/v2", Op.UPDATE, {"links": ["r1"], "dest_version": "3"})
    ]


def test_other_content_in_a_copy_is_a_conflict():
    src = _source()
    dst = _dest(src, {"1": "1", "2": "2", "3": "3"})
    dst.part("prompt")["qa"].versions["3"].template = "edited by hand"
    actions = plan_prompts(src, dst, {"r1"}, PLAIN_MLFLOW)
    assert [(a.label, a.op) for a in actions if a.op is not Op.SAME] == [("qa/v3", Op.CONFLICT)]


def test_a_destination_without_prompt_api_lists_and_counts_them():
    actions = plan_prompts(_source(), Snapshot(identity="dst"), {"r1"}, AZURE_ML)
    assert [(a.kind, a.op, a.details["count"]) for a in actions] == [
        ("prompt", Op.UNCOPIED, 1),
        ("prompt_version", Op.UNCOPIED, 3),
    ]
    assert actions[0].details["reason"] == "destination has no prompt API: azureml"

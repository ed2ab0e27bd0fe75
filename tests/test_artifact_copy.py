"""Artifact trees are copied file by file (several in flight) between real servers, and resumed."""

from __future__ import annotations

import os
from pathlib import Path

from mlflow import MlflowClient

from syncer.backends import artifacts as art
from syncer.backends import telemetry
from syncer.backends.endpoint import Endpoint


def _tree(root: Path, files: int) -> dict[str, bytes]:
    want = {}
    for i in range(files):
        rel = f"level{i % 3}/sub{i % 2}/f{i:02d}.txt" if i % 5 else f"top{i}.bin"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        data = bytes([i]) * (100 + i)
        (root / rel).write_bytes(data)
        want[rel] = data
    return want


def _read(client: MlflowClient, run_id: str, tmp: Path) -> dict[str, bytes]:
    local = Path(client.download_artifacts(run_id, "", str(tmp)))
    return {str(p.relative_to(local)): p.read_bytes() for p in local.rglob("*") if p.is_file()}


def test_copy_tree_copies_every_file_then_only_what_is_missing(
    source_server, dest_server, unique_name, tmp_path
):
    src_c, dst_c = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    src_run = src_c.create_run(src_c.create_experiment(unique_name))
    want = _tree(tmp_path / "tree", 25)
    src_c.log_artifacts(src_run.info.run_id, str(tmp_path / "tree"))
    dst_run = dst_c.create_run(dst_c.create_experiment(unique_name))
    src, dst = (
        Endpoint(source_server.url, role="source"),
        Endpoint(dest_server.url, role="destination"),
    )
    src_repo, dst_repo = (
        src.artifact_repo(src_run.info.artifact_uri),
        dst.artifact_repo(dst_run.info.artifact_uri),
    )
    recorded: dict[str, int] = {}

    stats = art.copy_tree(src, src_repo, dst, dst_repo, {}, lambda p, n: recorded.__setitem__(p, n))

    assert (stats.files, stats.bytes) == (25, sum(len(v) for v in want.values()))
    assert recorded == {k: len(v) for k, v in want.items()}
    (tmp_path / "a").mkdir()
    assert _read(dst_c, dst_run.info.run_id, tmp_path / "a") == want
    existing = art.listing(dst, dst_repo)
    del existing["top0.bin"]
    existing["level1/sub1/f01.txt"] = 1  # wrong size: copied again
    again = art.copy_tree(src, src_repo, dst, dst_repo, existing)
    assert (again.files, again.bytes) == (
        2,
        len(want["top0.bin"]) + len(want["level1/sub1/f01.txt"]),
    )
    (tmp_path / "b").mkdir()
    assert _read(dst_c, dst_run.info.run_id, tmp_path / "b") == want


def test_big_files_stream_from_server_to_server_byte_for_byte(
    source_server, dest_server, unique_name, tmp_path, monkeypatch
):
    monkeypatch.setattr(art, "STREAM_FROM", 1000)
    monkeypatch.setattr(art, "CHUNK", 4096)  # many chunks, uneven against the reads
    src_c, dst_c = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    src_run = src_c.create_run(src_c.create_experiment(unique_name))
    (tmp_path / "up" / "deep").mkdir(parents=True)
    want = {"deep/big.bin": os.urandom(300_001), "small.txt": b"x" * 10, "model.json": b"{}" * 800}
    for rel, data in want.items():
        (tmp_path / "up" / rel).write_bytes(data)
    src_c.log_artifacts(src_run.info.run_id, str(tmp_path / "up"))
    dst_run = dst_c.create_run(dst_c.create_experiment(unique_name))
    src, dst = (
        Endpoint(source_server.url, role="source"),
        Endpoint(dest_server.url, role="destination"),
    )
    src_repo, dst_repo = (
        src.artifact_repo(src_run.info.artifact_uri),
        dst.artifact_repo(dst_run.info.artifact_uri),
    )
    before = telemetry.api_call_counts().get(("destination", "stream_artifact"), 0)

    stats = art.copy_tree(src, src_repo, dst, dst_repo, {})

    assert (stats.files, stats.bytes) == (3, sum(len(v) for v in want.values()))
    assert telemetry.api_call_counts()[("destination", "stream_artifact")] - before == 2
    (tmp_path / "down").mkdir()
    assert _read(dst_c, dst_run.info.run_id, tmp_path / "down") == want
    assert art.listing(dst, dst_repo) == {k: len(v) for k, v in want.items()}

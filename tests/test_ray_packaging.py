"""The KubeRay deployment (deploy/kubernetes/rayjob.yaml): its driver is the real `migrate --engine
ray` command with a config the real settings accept, and every Ray pod gets the same credentials
from the Secret."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from syncer.cli.args import build_parser
from syncer.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "deploy" / "kubernetes" / "rayjob.yaml"


def test_rayjob_runs_migrate_on_ray_with_the_configmap_and_the_secret_on_every_pod(
    tmp_path, monkeypatch
):
    docs = {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text())}
    job, config_map, secret = docs["RayJob"], docs["ConfigMap"], docs["Secret"]
    assert job["apiVersion"] == "ray.io/v1"
    spec = job["spec"]
    argv = shlex.split(spec["entrypoint"])
    args = build_parser().parse_args(argv[1:])
    assert argv[0] == "mlflow-syncer" and (args.command, args.engine) == ("migrate", "ray")
    assert (
        spec["shutdownAfterJobFinishes"] is True and "runtimeEnvYAML" not in spec
    )  # no secret in the job

    cluster = spec["rayClusterSpec"]
    pinned = re.search(r"^ray==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
    assert pinned and cluster["rayVersion"] == pinned.group(1)
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [
        g["template"]["spec"] for g in cluster["workerGroupSpecs"]
    ]
    assert sum(g["replicas"] for g in cluster["workerGroupSpecs"]) == 3
    for pod in pods:
        (container,) = pod["containers"]
        env = {e["name"]: e.get("valueFrom", e.get("value")) for e in container["env"]}
        for ref in (
            v["secretKeyRef"] for v in env.values() if isinstance(v, dict) and "secretKeyRef" in v
        ):
            assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
        assert env["MLFLOW_SYNCER_STATE"]["secretKeyRef"]["key"] == "state-url"
        assert env["RAY_USAGE_STATS_ENABLED"] == "0"
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volume = next(
            v
            for v in pod["volumes"]
            if v.get("configMap", {}).get("name") == config_map["metadata"]["name"]
        )
        assert Path(args.config).parent == Path(mounts[volume["name"]])

    config = tmp_path / Path(args.config).name
    config.write_text(config_map["data"][Path(args.config).name])
    monkeypatch.setenv("MLFLOW_SYNCER_STATE", secret["stringData"]["state-url"])
    settings = load_settings(str(config))
    assert settings.scale_out.engine == "ray" and settings.scale_out.range_runs == 5000
    assert settings.state.startswith("postgresql://")

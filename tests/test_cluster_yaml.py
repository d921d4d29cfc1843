"""cluster.yaml is a valid Ray cluster launcher file (checked against Ray's own schema)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import ray
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_cluster_yaml_matches_rays_launcher_schema() -> None:
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)


def test_cluster_yaml_has_what_the_launcher_and_the_loop_need() -> None:
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    assert config["head_node_type"] in config["available_node_types"]
    gpu_nodes = [n for n in config["available_node_types"].values() if n["resources"].get("GPU", 0) > 0]
    assert gpu_nodes, "a GPU worker node type is needed for vLLM generators and NCCL learners"
    assert all(n.get("max_workers", 0) >= n.get("min_workers", 0) for n in gpu_nodes)
    assert any("[gpu" in cmd for cmd in config["setup_commands"]), "nodes must install the project's gpu extra"
    assert any("ray start --head" in c for c in config["head_start_ray_commands"])
    assert any("ray start --address" in c for c in config["worker_start_ray_commands"])
    assert "." in config["file_mounts"].values()


def test_the_schema_check_catches_a_broken_file() -> None:
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    del config["provider"]
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError as e:
        assert "provider" in str(e)
    else:
        raise AssertionError("a cluster file without a provider passed Ray's schema")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_nodes_get_python_311_and_the_pinned_gpu_stack() -> None:
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    setup = " && ".join(config["setup_commands"])
    assert "python install 3.11" in setup and "--python 3.11" in setup  # not the image's python3 (3.10)
    install = [c for c in config["setup_commands"] if "[gpu" in c]
    assert install and all("-c constraints-gpu.txt" in c for c in install)
    # ray is started from the same venv the stack is installed in
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        assert all("qdc-venv/bin/ray" in c for c in config[key] if "ray " in c), key

    gpu, cpu = _pins(ROOT / "constraints-gpu.txt"), _pins(ROOT / "constraints.txt")
    assert gpu["vllm"].startswith("0.33.") and gpu["torch"].startswith("2.14.")
    assert gpu["ray"] == cpu["ray"]  # Ray refuses a cluster whose nodes and driver differ


def test_cluster_yaml_mounts_shared_storage_for_run_directories() -> None:
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    init = " ".join(config["initialization_commands"])
    assert "mount -t nfs4" in init and "/mnt/qdc" in init
    recipe = (ROOT / "recipes" / "gpu_cluster.yaml").read_text()
    assert "cd /mnt/qdc && qdc run" in recipe


def test_gpu_cluster_recipe_validates_for_the_gpu_path() -> None:
    from system.config import load_recipe
    from system.loop.sync import sync_mode

    r = load_recipe(ROOT / "recipes" / "gpu_cluster.yaml")
    assert sync_mode(r.generator, r.resources.learner_gpus, r.resources.generator_gpus) == "nccl"
    assert r.learner.checkpointing(on_gpu=True) and not r.learner.batch_split_given
    assert r.generator.context_length(r.loop.eval.max_new_tokens) <= 1024 and r.generator.dtype == "bfloat16"
    assert r.model.path and not r.model.path.startswith("/")  # a hub id: generators and learners both fetch it

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

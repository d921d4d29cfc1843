"""Learner ranks are packed: as many to a node as fit, each node's share in one STRICT_PACK group."""

from __future__ import annotations

from actors.placement import learner_groups, ranks_per_node


def test_ranks_go_to_nodes_in_whole_nodes_worth() -> None:
    gpu_node = {"CPU": 48.0, "GPU": 4.0}
    head = {"CPU": 8.0}
    assert ranks_per_node(4, 1, [head, gpu_node, gpu_node]) == 4
    assert learner_groups(4, 4) == [4]  # gpu_cluster.yaml: 4 ranks on one 4-GPU node
    assert learner_groups(8, 4) == [4, 4]
    assert learner_groups(6, 4) == [4, 2]
    assert ranks_per_node(4, 1, [head]) == 0 and learner_groups(4, 0) == []  # no GPU node up yet: plain PACK
    assert ranks_per_node(0.5, 0, [{"CPU": 2.0}]) == 4  # CPU ranks by their CPU share

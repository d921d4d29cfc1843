"""One place decides exact vs approximate; partitions cover every point once; IVF finds neighbours."""

from __future__ import annotations

import faiss
import numpy as np

from system.qdc.index import add, build_index, make_partition, new_index, plan_index, search
from system.qdc.synthetic import plant_duplicates
from tests.qdc.conftest import make_clustered


def test_plan_is_exact_below_the_threshold_and_approximate_above() -> None:
    small = plan_index(999, 32, exact_below=1000)
    assert small.exact and small.kind == "flat" and small.nlist == 1
    big = plan_index(1000, 32, exact_below=1000)
    assert not big.exact and big.kind == "ivf" and big.nlist == 8 and big.nprobe == 8
    huge = plan_index(1_000_000, 384)
    assert huge.nlist == 1024 and huge.nprobe == 8 and huge.cell_size == 977
    assert plan_index(50_000, 384, approx="hnsw").kind == "hnsw"


def test_partition_covers_every_point_once() -> None:
    data = make_clustered(3000, 10)
    plan = plan_index(3000, 48, exact_below=500)
    part = make_partition(data.x, plan, seed=0)
    members = np.concatenate(part.cells)
    assert np.array_equal(np.sort(members), np.arange(3000))
    for cell in part.cells:
        assert len(cell) and np.all(part.assign[cell] == part.assign[cell[0]])
    assert np.all(part.probes[:, 0] == part.assign)
    # clusters are found: nearly every cluster lives in one or two cells
    spans = [len(np.unique(part.assign[data.labels == c])) for c in range(10)]
    assert np.mean(spans) <= 4  # 24 cells for 10 clusters of ~300
    exact = make_partition(data.x, plan_index(3000, 48, exact_below=5000), seed=0)
    assert exact.n_cells == 1 and len(exact.cells[0]) == 3000


def test_partition_is_deterministic_for_a_seed() -> None:
    data = make_clustered(2000, 8)
    plan = plan_index(2000, 48, exact_below=500)
    a, b = make_partition(data.x, plan, 3), make_partition(data.x, plan, 3)
    assert np.array_equal(a.assign, b.assign) and np.array_equal(a.probes, b.probes)


def test_ivf_with_preassigned_cells_finds_close_neighbours() -> None:
    """What deita needs from the approximate index: an item close to a stored one is found."""
    data = make_clustered(4000, 12)
    x, near_copies = plant_duplicates(data.x, 500, noise=0.2, seed=1)
    plan = plan_index(len(x), 48, exact_below=1000)
    part = make_partition(x, plan, seed=0)
    ivf = new_index(plan, part)
    assert isinstance(ivf, faiss.IndexIVFFlat)
    add(ivf, x[:4000], part.assign[:4000])
    originals, copies = near_copies[:, 0], near_copies[:, 1]
    sims, got = search(ivf, x[copies], 1, part.probes[copies])
    assert np.mean(got[:, 0] == originals) >= 0.97
    assert np.allclose(sims[:, 0], np.sum(x[copies] * x[got[:, 0]], axis=1), atol=1e-5)
    exact = build_index(x[:4000], plan_index(4000, 48))
    assert np.array_equal(search(exact, x[copies], 1)[1][:, 0], originals)


def test_search_on_an_empty_index() -> None:
    sims, ids = search(faiss.IndexFlatIP(4), np.ones((3, 4), dtype=np.float32), 2)
    assert ids.shape == (3, 2) and np.all(ids == -1) and np.all(np.isneginf(sims))

"""Item-item like cosines: Spark's computation against numpy, and the artifact round trip."""

import numpy as np
import pytest

from recommender.artifacts import NEIGHBOURS, read_artifact, write_artifact
from recommender.errors import ModelError
from recommender.neighbours import LinkRows, Neighbours, like_cosine, top_cosines
from recommender.serve import Recommender


def test_from_triples_orders_rows_and_drops_unknown_items():
    found = Neighbours.from_triples(np.array([2, 1, 1, 1, 7]), np.array([1, 3, 2, 9, 1]),
                                    np.array([0.5, 0.2, 0.9, 0.8, 0.1]), np.array([1, 2, 3]))
    assert found.indptr.tolist() == [0, 2, 3, 3]
    assert found.ids.tolist() == [2, 3, 1]  # item 1: most similar first; 9 and 7 unknown
    assert found.sims.tolist() == pytest.approx([0.9, 0.2, 0.5])
    assert found.validate() is None
    broken = Neighbours(found.item_ids, np.array([0, 2, 1, 3]), found.ids, found.sims)
    assert "offsets" in broken.validate()


def published(tmp_path, neighbours):
    return write_artifact(tmp_path, item_ids=np.array([1, 2, 3]),
                          item_factors=np.eye(3, dtype=np.float32),
                          popularity=np.array([3, 2, 1]), mean_rating=np.full(3, 4.0),
                          items=[], meta={}, neighbours=neighbours)


def test_neighbours_round_trip_through_the_artifact_and_broken_ones_are_refused(tmp_path):
    links = Neighbours.from_triples(np.array([1, 2]), np.array([2, 1]), np.array([0.7, 0.7]),
                                    np.array([1, 2, 3]))
    folder = published(tmp_path, links)
    loaded = read_artifact(folder)["neighbours"]
    assert loaded.ids.tolist() == [2, 1] and loaded.indptr.tolist() == [0, 1, 2, 2]
    links = Recommender.load(folder).catalogue.like_neighbours
    block = links.block(np.array([0, 1]), np.array([0, 1, 2]))
    # Served similarities are float16: three significant digits.
    assert block == pytest.approx(np.array([[0, 0.7, 0], [0.7, 0, 0]]), rel=1e-3)
    assert links.block(np.array([2]), np.array([0])).tolist() == [[0.0]]  # a row with none
    assert links.weighted_sum(np.array([0, 1]), np.array([1.0, -0.5])).tolist() == \
        pytest.approx([-0.35, 0.7, 0], rel=1e-3)
    (folder / NEIGHBOURS).write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="neighbours"):
        read_artifact(folder)
    np.savez(folder / NEIGHBOURS, item_ids=np.array([1, 2, 3]), indptr=np.array([0, 1, 2, 2]),
             ids=np.array([2, 99]), sims=np.array([0.5, 0.5], dtype=np.float32))
    with pytest.raises(ModelError, match="not an item"):
        read_artifact(folder)


def test_a_model_without_neighbours_still_loads(tmp_path):
    folder = published(tmp_path, None)
    assert read_artifact(folder)["neighbours"] is None
    assert Recommender.load(folder).catalogue.like_neighbours is None


@pytest.mark.spark
def test_spark_like_cosines_match_numpy(spark):
    rng = np.random.default_rng(5)
    pairs = {(int(u), int(i)) for u in range(40) for i in rng.choice(25, 8, replace=False)}
    users, items = map(np.array, zip(*sorted(pairs), strict=True))
    frame = spark.createDataFrame([(int(u), int(i)) for u, i in zip(users, items, strict=True)],
                                  "user_id INT, item_id INT")
    i, j, s = like_cosine(frame, k=5)
    found = Neighbours.from_triples(i, j, s, np.arange(25))

    matrix = np.zeros((40, 25))
    matrix[users, items] = 1
    gram = matrix.T @ matrix
    norms = np.sqrt(np.diag(gram))
    cosine = gram / np.outer(norms, norms)
    np.fill_diagonal(cosine, -1)
    for item in range(25):
        row = slice(found.indptr[item], found.indptr[item + 1])
        expected = np.lexsort((np.arange(25), -cosine[item]))[:5]
        assert found.ids[row].tolist() == expected.tolist()
        assert found.sims[row] == pytest.approx(cosine[item, expected], rel=1e-5)


def test_numpy_cosines_match_brute_force_with_ties_and_gaps():
    # Few users over many items: many equal cosines (ties go to the lower id), items liked
    # with nobody else (no neighbours), ids with gaps; the rows are built in small blocks.
    rng = np.random.default_rng(7)
    pairs = {(int(u), int(i)) for u in range(30) for i in rng.choice(40, 4, replace=False)}
    pairs |= {(99, 1000)}  # an item liked alone
    users, items = (np.array(x) for x in zip(*sorted(pairs), strict=True))
    ids = np.unique(items)
    i, j, s = top_cosines(users * 7, items * 3 + 5, k=6, block=4)
    found = Neighbours.from_triples(i, j, s, ids * 3 + 5)

    matrix = np.zeros((100, len(ids)))
    matrix[users, np.searchsorted(ids, items)] = 1
    gram = matrix.T @ matrix
    cosine = gram / np.sqrt(np.outer(np.diag(gram), np.diag(gram)))
    np.fill_diagonal(cosine, 0)
    for row in range(len(ids)):
        got = slice(found.indptr[row], found.indptr[row + 1])
        positive = np.flatnonzero(cosine[row] > 0)
        expected = positive[np.lexsort((positive, -cosine[row, positive]))][:6]
        assert found.ids[got].tolist() == (ids[expected] * 3 + 5).tolist()
        assert found.sims[got] == pytest.approx(cosine[row, expected], rel=1e-6)
    assert found.indptr[-1] - found.indptr[-2] == 0  # item 1000: no neighbours


def test_link_rows_place_neighbours_on_catalogue_rows_block_by_block():
    # Catalogue rows 10..80 (some without neighbours); rows re-sorted by column in blocks.
    rng = np.random.default_rng(3)
    catalogue = np.arange(10, 81)
    source = rng.choice(catalogue, 300)
    target = rng.choice(catalogue, 300)
    found = Neighbours.from_triples(source, target, rng.uniform(0.1, 1, 300), catalogue[::2])
    dense = np.zeros((len(catalogue), len(catalogue)))
    for r in range(len(found.item_ids)):
        for at in range(found.indptr[r], found.indptr[r + 1]):
            dense[found.item_ids[r] - 10, found.ids[at] - 10] = found.sims[at]
    for block in (1, 3, 4096):
        links = LinkRows.of(found, catalogue, block=block)
        assert links.block(np.arange(len(catalogue)), np.arange(len(catalogue))) == \
            pytest.approx(dense, rel=1e-3)
        for row in range(len(catalogue)):  # columns sorted within each row
            cols = links.columns[links.indptr[row]:links.indptr[row + 1]]
            assert np.all(np.diff(cols) > 0)


def test_link_rows_reuse_the_arrays_of_neighbours_read_for_one_model():
    found = Neighbours.from_triples(np.array([1, 1, 2]), np.array([3, 2, 1]),
                                    np.array([0.5, 0.25, 0.75]), np.array([1, 2, 3]))
    shared = LinkRows.of(found, np.array([1, 2, 3]))
    assert found.ids.tolist() == [3, 2, 1]  # someone else's neighbours stay as they were
    scratch = Neighbours(found.item_ids, found.indptr, found.ids.copy(),
                         found.sims.astype(np.float16), scratch=True)
    reused = LinkRows.of(scratch, np.array([1, 2, 3]))
    assert reused.columns is scratch.ids and reused.values is scratch.sims
    assert reused.columns.tolist() == shared.columns.tolist() == [1, 2, 0]
    assert reused.values.tolist() == shared.values.tolist() == [0.25, 0.5, 0.75]


def test_a_weighted_sum_over_rows_without_neighbours_is_float_zeros():
    found = Neighbours.from_triples(np.array([1]), np.array([2]), np.array([0.5]),
                                    np.array([1, 2, 3]))
    total = LinkRows.of(found, np.array([1, 2, 3])).weighted_sum(np.array([2]), np.array([1.0]))
    assert total.dtype == np.float64 and total.tolist() == [0.0, 0.0, 0.0]

"""The new-user protocol and its baselines, on tables small enough to check by hand."""

import numpy as np
import pytest

from recommender.baselines import ease, item_cosine, popularity
from recommender.evaluate import Ratings
from recommender.newuser import (
    KS,
    VARIANTS,
    Case,
    ListStats,
    cases,
    headline,
    hold_out,
    likes_in_order,
    score,
)


def table(rows):
    """Ratings from (user, item, stars, ts) tuples."""
    a = np.array(rows, dtype=np.float64)
    return Ratings(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2], a[:, 3])


# Users 1-3 like items 10 and 11 together; users 4-5 like 20 and 21; 30 is liked by all
# but rated low by user 6; 40 was only ever rated 3 stars (neutral).
TRAIN = table([
    (1, 10, 5, 0), (1, 11, 4, 1), (1, 30, 5, 2),
    (2, 10, 4, 0), (2, 11, 5, 1), (2, 30, 4, 2),
    (3, 10, 5, 0), (3, 11, 5, 1), (3, 30, 4, 2), (3, 40, 3, 3),
    (4, 20, 5, 0), (4, 21, 4, 1), (4, 30, 5, 2), (4, 40, 3, 3),
    (5, 20, 4, 0), (5, 21, 5, 1), (5, 30, 4, 2), (5, 40, 3, 3),
    (6, 30, 1, 0), (6, 40, 3, 1),
])


def test_popularity_counts_likes_or_ratings():
    assert popularity(TRAIN, on="likes")(np.array([]), 3) == [30, 10, 11]
    assert popularity(TRAIN, on="ratings")(np.array([]), 2) == [30, 40]  # 6 and 4 ratings
    assert 30 not in popularity(TRAIN)(np.array([30]), 3)  # what you told is never offered
    # 10 and 11 are both liked 3 times: the tie at the cut goes by id, every time.
    assert popularity(TRAIN, on="likes")(np.array([30]), 1) == [10]


def test_item_cosine_known_answer():
    rank = item_cosine(TRAIN, on="likes")
    # Liked 10: cos(10,11) = 3/sqrt(3*3) = 1; cos(10,30) = 3/sqrt(3*5) = 0.775; 20,21 = 0.
    assert rank(np.array([10]), 3)[:2] == [11, 30]
    assert rank(np.array([20]), 2) == [21, 30]
    # Neighbours: keep only each told item's single most similar item.
    assert item_cosine(TRAIN, on="likes", neighbours=1)(np.array([10]), 3)[0] == 11


def test_ease_known_answer_and_size_limit(monkeypatch):
    rank = ease(TRAIN, on="likes", lam=1.0)
    assert rank(np.array([20]), 1) == [21]
    assert rank(np.array([10, 11]), 1) == [30]
    monkeypatch.setattr("recommender.baselines.EASE_MAX_ITEMS", 3)
    assert ease(TRAIN) is None  # the catalogue does not fit: the protocol leaves EASE out


def test_hold_out_gives_disjoint_seeded_groups():
    rng = np.random.default_rng(0)
    rows = [(u, i, 5.0, i) for u in range(1, 61) for i in rng.choice(100, 5, replace=False)]
    data = table(rows)
    test, validation = hold_out(data, 10, seed=1)
    assert len(test) == len(validation) == 10 and not set(test) & set(validation)
    again = hold_out(data, 10, seed=1)
    assert test.tolist() == again[0].tolist() and hold_out(data, 10, 2)[0].tolist() != test.tolist()
    assert len(hold_out(data, 1000, 1)[0]) == 20  # at most a third of the users each


def test_cases_tell_in_order_or_at_random_and_keep_the_rest_relevant():
    data = table([(1, 10 + i, 5, 100 - i) for i in range(8)] + [(2, 50, 4, 0), (2, 51, 2, 1)])
    liked = likes_in_order(data, np.array([1, 2]))
    assert liked[1].tolist() == [17, 16, 15, 14, 13, 12, 11, 10]  # oldest rating first
    assert liked[2].tolist() == [50]  # 2 stars is not a like
    given = cases(liked, 3, "given", seed=0)
    assert [c.user for c in given] == [1]  # user 2 has too few likes to tell 3
    assert given[0].told.tolist() == [17, 16, 15]
    assert given[0].relevant == frozenset({14, 13, 12, 11, 10})
    shuffled = cases(liked, 3, "random", seed=0)[0]
    assert set(shuffled.told.tolist()) | shuffled.relevant == set(range(10, 18))
    assert shuffled.told.tolist() == cases(liked, 3, "random", seed=0)[0].told.tolist()


def test_score_and_beyond_accuracy_known_answers():
    group = [Case(1, np.array([10]), frozenset({11})), Case(2, np.array([20]), frozenset({99}))]
    metrics, lists = score(lambda told, n: [11, 30] if told[0] == 10 else [21, 30], group)
    assert metrics["hit@10"] == 0.5 and metrics["recall@10"] == 0.5
    assert metrics["ndcg@10"] == pytest.approx(0.5)
    beyond = ListStats(TRAIN).beyond_accuracy(lists)
    assert beyond["coverage"] == pytest.approx(3 / 6)  # 11, 21, 30 of six rated items
    # 30 is the most rated (percentile 100); 11 and 21 share the lowest count.
    assert 30 < beyond["pop_percentile"] < 100
    # cos(11,30) = 3/sqrt(3*6); cos(21,30) = 2/sqrt(2*6); diversity is 1 - cos.
    expected = 1 - (3 / np.sqrt(18) + 2 / np.sqrt(12)) / 2
    assert beyond["ild"] == pytest.approx(expected)


def test_headline_records_five_likes_per_variant():
    lines = [{"model": "m", "variant": v, "likes": k, "ndcg@10": k / 100}
             for v in VARIANTS for k in KS]
    assert headline(lines) == {"m": {"given@5": 0.05, "random@5": 0.05}}


@pytest.mark.spark
def test_the_gate_can_score_ours_alone(spark):
    from recommender.newuser import OURS, new_user_protocol
    from recommender.train import TrainParams

    rng = np.random.default_rng(7)
    rows = [(u, int(i), 5.0 if i % 3 else 2.0, t)
            for u in range(1, 41) for t, i in enumerate(rng.choice(30, 12, replace=False))]
    params = TrainParams(rank=4, max_iter=3)
    lines = list(new_user_protocol(spark, table(rows), params, "tiny", say=lambda _m: None,
                                   users=5, only_ours=True))
    assert {x["model"] for x in lines} == {OURS, "summary"}
    assert set(headline(lines)) == {OURS}

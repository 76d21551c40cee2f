"""Fold-in reproduces Spark: a training user folded in gets Spark's own user vector."""

import numpy as np
import pytest

from recommender.preferences import strength
from recommender.serve import Recommender
from recommender.train import TrainParams, fit_arrays

pytestmark = pytest.mark.spark


def synthetic_ratings(seed=7, users=80, items=120, per_user=25):
    """Two taste clusters with half-star ratings, like MovieLens in miniature."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(1, users + 1):
        taste = u % 2
        pool = np.arange(1, items + 1)
        weights = np.where((pool % 2) == taste, 3.0, 1.0)
        chosen = rng.choice(pool, size=per_user, replace=False, p=weights / weights.sum())
        for i in chosen:
            base = 4.5 if (i % 2) == taste else 2.0
            rows.append((u, int(i), float(np.clip(np.round((base + rng.normal(0, 0.7)) * 2) / 2,
                                                  0.5, 5.0)), 0))
    data = np.array(rows)
    return data[:, 0].astype(np.int64), data[:, 1].astype(np.int64), data[:, 2]


@pytest.mark.parametrize("scheme", ["raw", "signed"])  # signed: negatives in the data too
def test_fold_in_matches_spark_user_factors_and_top10(spark, scheme):
    users, items, ratings = synthetic_ratings()
    params = TrainParams(rank=8, reg_param=0.1, alpha=2.0, max_iter=10, scheme=scheme)
    fit = fit_arrays(spark, users, items, ratings, params)
    rec = Recommender.from_arrays(fit.item_ids, fit.item_factors,
                                  {"alpha": 2.0, "reg_param": 0.1, "scheme": scheme})
    worst = 0.0
    for row, user in enumerate(fit.user_ids):
        mine = users == user
        x = rec.fold_in(items[mine], strength(scheme, ratings[mine]))
        spark_x = fit.user_factors[row].astype(np.float64)
        worst = max(worst, np.linalg.norm(x - spark_x) / np.linalg.norm(spark_x))
        ours = np.argsort(-rec.scores(x), kind="stable")[:10]
        theirs = np.argsort(-rec.scores(spark_x), kind="stable")[:10]
        assert ours.tolist() == theirs.tolist()
    assert worst < 1e-4
    assert len(fit.user_ids) == 80


def test_folded_in_fan_gets_their_taste_with_reasons(spark):
    users, items, ratings = synthetic_ratings(seed=3)
    fit = fit_arrays(spark, users, items, ratings, TrainParams(rank=8, max_iter=5))
    rec = Recommender.from_arrays(fit.item_ids, fit.item_factors, {"alpha": 1.0})
    results = rec.recommend([1, 3, 5, 7], n=10)
    # Odd items are one taste: a fan of odd items gets mostly odd items back.
    assert sum(r.item_id % 2 for r in results) >= 8
    assert all(r.because for r in results)

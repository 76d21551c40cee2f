"""Ranking metrics on hand-computed examples."""

import math

import pytest

from recommender.metrics import ranking_metrics, user_metrics


def test_one_hit_at_rank_two_of_three_relevant():
    m = user_metrics([1, 2, 3, 4], {2, 4, 9}, k=3)
    assert m["precision@3"] == pytest.approx(1 / 3)
    assert m["recall@3"] == pytest.approx(1 / 3)
    idcg = 1 / math.log(2) + 1 / math.log(3) + 1 / math.log(4)
    assert m["ndcg@3"] == pytest.approx((1 / math.log(3)) / idcg)
    assert m["map"] == pytest.approx((1 / 2) / 3)  # precision at the hit / relevant count


def test_perfect_list_scores_one():
    m = user_metrics([5, 6], {5, 6}, k=2)
    assert m == {"map": 1.0, "ndcg@2": 1.0, "precision@2": 1.0, "recall@2": 1.0}


def test_ideal_dcg_is_capped_at_k():
    # Four relevant items, k=2, both slots hit: nDCG is 1 although recall is 1/2.
    m = user_metrics([1, 2], {1, 2, 3, 4}, k=2)
    assert m["ndcg@2"] == pytest.approx(1.0) and m["recall@2"] == pytest.approx(0.5)
    assert m["map"] == pytest.approx((1 + 1) / 4)


def test_average_includes_users_without_hits_and_skips_users_without_truth():
    ranked = {1: [10, 11], 2: [20, 21], 3: [30, 31]}
    relevant = {1: {10}, 2: {99}, 4: {40}}  # user 3 has no truth, user 4 no list
    m = ranking_metrics(ranked, relevant, k=2)
    assert m["users"] == 2
    assert m["precision@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["ndcg@2"] == pytest.approx((1 + 0) / 2)


@pytest.mark.spark
def test_matches_spark_ranking_evaluator(spark):
    from pyspark.ml.evaluation import RankingEvaluator

    ranked = {1: [1, 2, 3, 4, 5], 2: [6, 7, 8, 9, 10], 3: [1, 6, 2, 7, 3]}
    relevant = {1: {2, 5, 11}, 2: {6}, 3: {7, 8, 9, 10, 12, 13}}
    ours = ranking_metrics(ranked, relevant, k=5)
    frame = spark.createDataFrame(
        [([float(i) for i in ranked[u]], [float(i) for i in relevant[u]]) for u in ranked],
        ["prediction", "label"])
    for our_name, spark_name in [("ndcg@5", "ndcgAtK"), ("precision@5", "precisionAtK"),
                                 ("recall@5", "recallAtK"), ("map", "meanAveragePrecision")]:
        evaluator = RankingEvaluator(metricName=spark_name, k=5)
        assert ours[our_name] == pytest.approx(evaluator.evaluate(frame)), our_name

"""Fold-in against the naive way: append the new user's likes and retrain ALS.

Many recommender bots answer a new user by adding their ratings to the data and
re-running ALS. On ``ml-100k`` this times that (Spark, warm JVM, the model's own
parameters) against folding the same 20 likes into the published model. Prints one
JSON object. Usage: ``python -m bench.naive_retrain [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from recommender.evaluate import load_ratings
from recommender.serve import Recommender
from recommender.settings import Settings
from recommender.spark import start_spark
from recommender.train import TrainParams, fit_arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.from_env()
    rec = Recommender.load()
    params = TrainParams(**{k: v for k, v in rec.params.items()
                            if k in TrainParams.__dataclass_fields__})
    data = load_ratings(settings.processed_dir)
    likes = np.random.default_rng(5).choice(rec.ids[rec.has_factors], 20, replace=False)
    new_user = int(data.users.max()) + 1
    users = np.r_[data.users, np.full(20, new_user)]
    items = np.r_[data.items, likes]
    ratings = np.r_[data.ratings, np.full(20, 5.0)]

    spark = start_spark(settings, app_name="bench-naive")
    retrain = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        fit = fit_arrays(spark, users, items, ratings, params)
        fresh = Recommender.from_arrays(fit.item_ids, fit.item_factors, rec.params)
        row = int(np.flatnonzero(fit.user_ids == new_user)[0])
        scores = fresh.scores(fit.user_factors[row])
        np.argsort(-scores)[:10]
        retrain.append(time.perf_counter() - started)
    spark.stop()

    fold = []
    for _ in range(200):
        started = time.perf_counter()
        rec.recommend(likes.tolist(), n=10)
        fold.append(time.perf_counter() - started)
    retrain_s = statistics.median(retrain)
    fold_s = statistics.median(fold)
    print(json.dumps({
        "benchmark": "naive-retrain-vs-fold-in", "dataset": "ml-100k", "likes": 20,
        "params": rec.params, "retrain_median_s": round(retrain_s, 2),
        "retrain_runs_s": [round(x, 2) for x in retrain],
        "fold_in_recommend_median_ms": round(fold_s * 1e3, 3),
        "speedup": round(retrain_s / fold_s), "cores": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()

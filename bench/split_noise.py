"""How much does held-out nDCG@10 move from one random split to another?

The retraining gate compares tonight's held-out figure with last night's, and every
night the split differs (new bot ratings reshuffle it). This fits the model's recipe
on several 75/25 per-item splits of the processed ratings and prints one JSON object
with the spread, which is what ``RETRAIN_MAX_DROP`` must tolerate.
Usage: ``python -m bench.split_noise [--seeds 6]``.
"""

from __future__ import annotations

import argparse
import json
import statistics

from recommender.evaluate import (
    load_ratings,
    model_from_fit,
    rank_with_model,
    relevant_sets,
    stratified_split,
)
from recommender.ingest import dataset_label
from recommender.metrics import ranking_metrics
from recommender.settings import Settings
from recommender.spark import start_spark, stop_spark
from recommender.train import TrainParams, fit_arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    settings = Settings.from_env()
    data = load_ratings(settings.processed_dir)
    params = TrainParams()
    spark = start_spark(settings, app_name="split-noise")
    scores = []
    try:
        for seed in range(1, args.seeds + 1):
            mask = stratified_split(data.items, 0.75, seed)
            train, test = data.subset(mask), data.subset(~mask)
            relevant = relevant_sets(test)
            model = model_from_fit(fit_arrays(spark, train.users, train.items, train.ratings,
                                              params), params, train)
            ranked = rank_with_model(model, train, sorted(relevant))
            scores.append(round(ranking_metrics(ranked, relevant)["ndcg@10"], 4))
    finally:
        stop_spark(spark)
    print(json.dumps({"benchmark": "split-noise", "dataset": dataset_label(settings),
                      "seeds": list(range(1, args.seeds + 1)), "ndcg@10": scores,
                      "mean": round(statistics.mean(scores), 4),
                      "stdev": round(statistics.stdev(scores), 4),
                      "range": round(max(scores) - min(scores), 4)}))


if __name__ == "__main__":
    main()

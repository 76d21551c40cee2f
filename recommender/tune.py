"""A recorded hyperparameter search on a validation split that never sees the test split.

The Recommenders protocol's training part (75% per item, seed 42) is split again the
same way (seed 43) into fit and validation parts. A staged grid (the preference
scheme with alpha, then rank with regParam, then alpha and iterations around the
best) is scored by nDCG@10 with fold-in serving. Every trial is one JSON line.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, replace

from recommender.evaluate import (
    SEED,
    Ratings,
    model_from_fit,
    rank_with_model,
    relevant_sets,
    stratified_split,
)
from recommender.metrics import ranking_metrics
from recommender.train import TrainParams, fit_arrays

VALIDATION_SEED = SEED + 1


def stages(best: TrainParams) -> list[dict[str, list]]:
    return [
        {"scheme": ["raw", "binary", "signed", "liked"], "alpha": [0.25, 1.0, 4.0]},
        {"rank": [8, 16, 32, 64, 128], "reg_param": [0.03, 0.1, 0.3]},
        {"alpha": sorted({best.alpha / 4, best.alpha / 2, best.alpha, best.alpha * 2}),
         "max_iter": [10, 20]},
        {"reg_param": sorted({best.reg_param / 2, best.reg_param, best.reg_param * 2})},
    ]


def validation_split(data: Ratings) -> tuple[Ratings, Ratings]:
    train = data.subset(stratified_split(data.items, 0.75, SEED))
    fit_mask = stratified_split(train.items, 0.75, VALIDATION_SEED)
    return train.subset(fit_mask), train.subset(~fit_mask)


SEARCH_START = TrainParams(rank=32, reg_param=0.1, alpha=1.0, max_iter=15, scheme="binary")


def search(spark, data: Ratings, start: TrainParams = SEARCH_START,
           say=print) -> Iterator[dict]:
    """Yield one record per trial; the last record is the best, with ``"best": true``."""
    fit_part, validation = validation_split(data)
    relevant = relevant_sets(validation)
    users = sorted(relevant)
    say(f"tuning on {len(fit_part):,} ratings, validating on {len(validation):,} "
        f"({len(users):,} users)")
    best, best_score, seen = start, -1.0, {}
    for stage_no in range(4):
        grid = stages(best)[stage_no]
        names = list(grid)
        combos = [{}]
        for name in names:
            combos = [{**c, name: v} for c in combos for v in grid[name]]
        stage_best = best
        for combo in combos:
            params = replace(best, **combo)
            key = tuple(sorted(asdict(params).items()))
            if key not in seen:
                started = time.monotonic()
                fit = fit_arrays(spark, fit_part.users, fit_part.items, fit_part.ratings, params)
                ranked = rank_with_model(model_from_fit(fit, params), fit_part, users)
                metrics = ranking_metrics(ranked, relevant)
                seen[key] = metrics
                record = {"stage": stage_no + 1, "params": asdict(params),
                          "ndcg@10": round(metrics["ndcg@10"], 4),
                          "precision@10": round(metrics["precision@10"], 4),
                          "map": round(metrics["map"], 4),
                          "seconds": round(time.monotonic() - started, 1)}
                yield record
            if seen[key]["ndcg@10"] > best_score:
                best_score, stage_best = seen[key]["ndcg@10"], params
        best = stage_best
    yield {"best": True, "params": asdict(best), "ndcg@10": round(best_score, 4)}

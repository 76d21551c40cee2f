"""Recorded hyperparameter searches on validation splits that never see the test split.

``--objective recommenders`` (warm users): the Recommenders protocol's training part
(75% per item, seed 42) is split again the same way (seed 43) into fit and validation
parts. A staged grid (the preference scheme with alpha, then rank with regParam, then
alpha and iterations around the best) is scored by nDCG@10 with fold-in serving.

``--objective new-user``: the new-user protocol's validation users (its test users are
set aside first, with the same seed as ``evaluate``). Each ALS fit is scored by the
mean nDCG@10 at 5 likes over both variants, with the serving knobs chosen for it on
the same validation users; every trial also records the warm-user validation figure,
and a fit may not lose more than ``MAX_WARM_DROP`` of it against the starting point.
Every trial is one JSON line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace

import numpy as np

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
MAX_WARM_DROP = 0.0


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
        stage_best = best
        for combo in _combos(grid):
            params = replace(best, **combo)
            key = tuple(sorted(asdict(params).items()))
            if key not in seen:
                started = time.monotonic()
                fit = fit_arrays(spark, fit_part.users, fit_part.items, fit_part.ratings, params)
                ranked = rank_with_model(model_from_fit(fit, params, fit_part), fit_part, users)
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


def new_user_stages(best: TrainParams) -> list[dict[str, list]]:
    return [
        {"scheme": ["binary", "opinion"], "alpha": [0.25, 1.0, 4.0]},
        {"rank": [16, 32, 64], "reg_param": [0.03, 0.1, 0.3]},
    ]


# The warm-user recipe `search` chose (MS protocol 0.4795): new-user tuning may not lose
# more than MAX_WARM_DROP of its warm-user validation figure.
WARM_REFERENCE = (TrainParams(rank=16, reg_param=0.1, alpha=0.25, max_iter=15, scheme="binary"),
                  {"scorer": "fold-in"})
FOLD_IN_FROM = (0, 10, 20, 50)


def warm_validation(spark, data: Ratings, params: TrainParams) -> Callable[[dict], float]:
    """Fit once on the warm-user validation split; return nDCG@10 of any serving config."""
    from recommender.config import ServingConfig

    fit_part, validation = validation_split(data)
    relevant = relevant_sets(validation)
    fit = fit_arrays(spark, fit_part.users, fit_part.items, fit_part.ratings, params)

    def measure(serving: dict) -> float:
        model = model_from_fit(fit, params, fit_part, ServingConfig(**serving))
        ranked = rank_with_model(model, fit_part, sorted(relevant))
        return ranking_metrics(ranked, relevant)["ndcg@10"]
    return measure


def search_new_user(spark, data: Ratings, start: TrainParams | None = None,
                    say=print) -> Iterator[dict]:
    """Yield one record per trial, then the best (``"best": true``) with its serving config.

    Per ALS fit: the serving knobs that maximise the new-user objective, then the
    ``fold_in_from`` that maximises the warm-user figure with them (people with many
    likes may be better served by the exact fold-in).
    """
    from recommender.config import ServingConfig
    from recommender.newuser import (
        DEFAULT_SEED,
        DEFAULT_USERS,
        SERVING_GRID,
        choose,
        fitted,
        hold_out,
        likes_in_order,
        model_ranker,
    )

    test_users, validation_users = hold_out(data, DEFAULT_USERS, DEFAULT_SEED)
    rest = data.subset(~np.isin(data.users, test_users))
    fit_part = rest.subset(~np.isin(rest.users, validation_users))
    liked = likes_in_order(data, validation_users)
    say(f"tuning for new users on {len(fit_part):,} ratings, validating on "
        f"{len(validation_users)} held-out users ({len(test_users)} test users set aside)")
    reference, reference_serving = WARM_REFERENCE
    floor = warm_validation(spark, rest, reference)(reference_serving) - MAX_WARM_DROP
    # The search starts from the warm-user recipe, not from whatever the defaults are now.
    best, best_score, best_serving, seen = start or reference, -1.0, {}, set()
    for stage_no, grid in enumerate(new_user_stages(best), start=1):
        stage_best = best
        for combo in _combos(grid):
            params = replace(best, **combo)
            key = tuple(sorted(asdict(params).items()))
            if key in seen:
                continue
            seen.add(key)
            started = time.monotonic()
            make = fitted(spark, fit_part, params)
            knobs, value = choose(
                [(g, lambda g=g, m=make: model_ranker(m(ServingConfig(**g))))
                 for g in SERVING_GRID], liked, DEFAULT_SEED)
            measure = warm_validation(spark, rest, params)
            warm = {f: measure({**(knobs or {}), "fold_in_from": f}) for f in FOLD_IN_FROM}
            fold_in_from = max(warm, key=lambda f: (warm[f], -f))
            serving = {**(knobs or {}), "fold_in_from": fold_in_from}
            ok = warm[fold_in_from] >= floor
            yield {"objective": "new-user", "stage": stage_no, "params": asdict(params),
                   "serving": serving, "new_user_ndcg@10": round(value, 4),
                   "warm_ndcg@10": round(warm[fold_in_from], 4),
                   "warm_floor": round(floor, 4), "within_warm_floor": ok,
                   "seconds": round(time.monotonic() - started, 1)}
            if ok and value > best_score:
                best_score, stage_best, best_serving = value, params, serving
        best = stage_best
    yield {"objective": "new-user", "best": True, "params": asdict(best),
           "serving": best_serving, "new_user_ndcg@10": round(best_score, 4)}


def _combos(grid: dict[str, list]) -> list[dict]:
    combos: list[dict] = [{}]
    for name, values in grid.items():
        combos = [{**c, name: v} for c in combos for v in values]
    return combos

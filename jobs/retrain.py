"""One retraining, as the child process runs it: gate, train, validate, publish, prune.

1. The quality gate: the recipe (the current model's parameters) is fitted on 75% of
   MovieLens plus the bot's ratings and scored on the other 25% with the same protocol
   as ``python -m recommender evaluate``. If held-out nDCG@10 falls more than
   ``RETRAIN_MAX_DROP`` below the current model's recorded figure, nothing is published.
2. Otherwise the model is trained on all of it, written beside the others, validated
   by loading it as the bot would, and only then ``models/current`` is swapped.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np

from recommender import artifacts
from recommender.evaluate import Ratings, load_ratings, recommenders_protocol, write_results
from recommender.ingest import dataset_label
from recommender.settings import Settings
from recommender.train import TrainParams, bot_ratings, train

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

METRIC = "ndcg@10"
OURS = "spark-als-foldin"
PROTOCOL = "recommenders"


def gate_data(settings: Settings) -> tuple[Ratings, int, int]:
    """MovieLens ratings plus the bot's, with (bot ratings, bot users) counted.

    Dislikes stay out: the protocol counts every held-out rating as a hit to find,
    and a title someone disliked is not one.
    """
    import pyarrow.parquet as pq

    data = load_ratings(settings.processed_dir)
    users, items, ratings, times = bot_ratings(settings.db_path)
    known = pq.read_table(settings.processed_dir / "items", columns=["item_id"])
    keep = (ratings > 2.0) & np.isin(items, known.column("item_id").to_numpy())
    users, items, ratings, times = users[keep], items[keep], ratings[keep], times[keep]
    merged = Ratings(np.concatenate([data.users.astype(np.int64), users]),
                     np.concatenate([data.items.astype(np.int64), items]),
                     np.concatenate([data.ratings.astype(np.float64), ratings]),
                     np.concatenate([data.ts.astype(np.float64), times]))
    return merged, len(users), len(np.unique(users))


def baseline(meta: dict | None) -> float | None:
    """The current model's recorded held-out nDCG@10, if it has one."""
    figure = (((meta or {}).get("metrics") or {}).get(PROTOCOL) or {}).get(OURS) or {}
    value = figure.get(METRIC)
    return float(value) if isinstance(value, int | float) else None


def retrain(spark: SparkSession, settings: Settings, say: Callable[[str], None]) -> dict:
    """Run the whole retraining; return the result record (``status`` published/rejected)."""
    started = time.monotonic()
    current = artifacts.current_dir(settings.models_dir)
    old_meta = json.loads((current / artifacts.MODEL_JSON).read_text()) if current else None
    params = TrainParams.of_model(current) if current is not None else TrainParams()
    old_score = baseline(old_meta)
    record = {"previous": current.name if current else None, "old_score": old_score,
              "max_drop": settings.retrain_max_drop, "params": asdict(params)}

    data, n_bot, n_bot_users = gate_data(settings)
    record.update(ratings=len(data), bot_ratings=n_bot, bot_users=n_bot_users)
    say(f"Checking quality on a held-out split of {len(data):,} ratings "
        f"({n_bot:,} from {n_bot_users:,} bot users) ...")
    label = f"{dataset_label(settings)}+bot"
    lines = list(recommenders_protocol(spark, data, params, label, say=lambda _m: None))
    new_score = float(next(x[METRIC] for x in lines if x["model"] == OURS))
    record["new_score"] = new_score
    against = "no earlier figure" if old_score is None else f"current {old_score:.4f}"
    say(f"Held-out nDCG@10 {new_score:.4f} ({against}).")
    if old_score is not None and new_score < old_score - settings.retrain_max_drop:
        record.update(status="rejected", seconds=round(time.monotonic() - started, 1),
                      reason=f"held-out nDCG@10 {new_score:.4f} is more than "
                             f"{settings.retrain_max_drop:g} below the current model's "
                             f"{old_score:.4f}")
        return record

    say("Training on all ratings ...")
    folder = train(spark, settings, params, say=lambda _m: None, publish=False)
    try:
        write_results(lines, folder, PROTOCOL)
        artifacts.read_artifact(folder)  # exactly the bot's check, before anyone can see it
        artifacts.point_current(settings.models_dir, folder.name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    removed = artifacts.prune(settings.models_dir, settings.keep_models)
    record.update(status="published", version=folder.name, removed=removed,
                  seconds=round(time.monotonic() - started, 1))
    return record

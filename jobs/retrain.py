"""One retraining, as the child process runs it: gate, train, validate, publish, prune.

1. The quality gate, two checks on MovieLens plus the bot's ratings (:func:`gate_data`),
   both with the recipe of the current model (its training parameters and its serving
   config):

   a. the Recommenders protocol (``python -m recommender evaluate``): fitted on 75% of
      the ratings, scored on the other 25%, held-out nDCG@10;
   b. the new-user protocol (``python -m recommender evaluate --protocol new-user``):
      users the model never saw tell it 5 of their likes, as people do in the bot;
      nDCG@10 of :data:`recommender.newuser.OURS`, the "given" and "random" variants
      averaged.

   If either figure falls more than ``RETRAIN_MAX_DROP`` below the one recorded for the
   current model, nothing is published.
2. Otherwise the model is trained on all of it, both protocols' results are recorded in
   its ``model.json``, it is validated by loading it as the bot would, and only then
   ``models/current`` is swapped.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np

from jobs.bot_data import read_bot_ratings
from jobs.settings import JobSettings
from recommender import artifacts, evaluate, newuser
from recommender.config import ServingConfig
from recommender.errors import RecommenderError
from recommender.evaluate import Ratings, load_ratings, recommenders_protocol, write_results
from recommender.ingest import dataset_label
from recommender.preferences import is_dislike
from recommender.settings import Settings
from recommender.train import BotRatings, TrainParams, train

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

METRIC = "ndcg@10"
OURS = evaluate.OURS
LEGACY_OURS = "spark-als-foldin"  # what models trained before the serving rule recorded
PROTOCOL = "recommenders"
NEW_USER = "new-user"
NEW_USER_FIGURES = tuple(f"{v}@{newuser.TUNE_LIKES}" for v in newuser.VARIANTS)
# The gate fits and scores at most this many MovieLens users (every bot user always
# counts). Its protocols serve each test user through ``recommend`` in Python: ML-32M's
# 200,000 users would take hours, ML-100K's 943 and ml-latest-small's 610 are untouched.
# 5,000 made the whole retraining at ML-32M 11 minutes against a target of 10.
GATE_USERS = 2_000
# Above this many items the gate's new-user check scores ours alone: the baselines are
# for reporting (``evaluate``), not for gating, and cost a minute at ML-32M (where EASE
# does not fit anyway, see ``recommender.baselines.EASE_MAX_ITEMS``).
GATE_BASELINE_ITEMS = 20_000
GATE_SEED = 42


def sample_users(data: Ratings, limit: int = GATE_USERS, seed: int = GATE_SEED) -> Ratings:
    """Every rating of a fixed random ``limit`` of the MovieLens users, and of all bot users.

    The same users are drawn every night while MovieLens stays the same, so the figures
    the gate compares come from the same people.
    """
    from recommender.train import BOT_USER_ID_BASE

    movielens = np.unique(data.users[data.users < BOT_USER_ID_BASE])
    if len(movielens) <= limit:
        return data
    chosen = np.random.default_rng(seed).choice(movielens, limit, replace=False)
    return data.subset(np.isin(data.users, chosen) | (data.users >= BOT_USER_ID_BASE))


def gate_data(settings: Settings, bot: BotRatings) -> tuple[Ratings, int, int]:
    """MovieLens ratings (of at most :data:`GATE_USERS` users, :func:`sample_users`) plus the
    bot's (``bot``), with (bot ratings, bot users) counted.

    Every bot rating is kept except the dislikes (:func:`recommender.preferences.is_dislike`,
    the rule the bot and training use): the Recommenders protocol counts every held-out
    rating as something to find, and a title someone disliked is not one, while a like
    or a neutral rating says they chose to watch it, as any MovieLens rating does. Only
    items of this catalogue are kept (a rating kept from an older data set has no item).
    """
    import pyarrow.parquet as pq

    data = sample_users(load_ratings(settings.processed_dir))
    known = pq.read_table(settings.processed_dir / "items", columns=["item_id"])
    bot = bot.where(~is_dislike(bot.ratings)
                    & np.isin(bot.items, known.column("item_id").to_numpy()))
    merged = Ratings(np.concatenate([data.users.astype(np.int64), bot.users]),
                     np.concatenate([data.items.astype(np.int64), bot.items]),
                     np.concatenate([data.ratings.astype(np.float64), bot.ratings]),
                     np.concatenate([data.ts.astype(np.float64), bot.ts]))
    return merged, len(bot), bot.n_users


def baseline(meta: dict | None) -> float | None:
    """The current model's recorded held-out nDCG@10, if it has one."""
    recorded = ((meta or {}).get("metrics") or {}).get(PROTOCOL) or {}
    figure = recorded.get(OURS) or recorded.get(LEGACY_OURS) or {}
    value = figure.get(METRIC)
    return float(value) if isinstance(value, int | float) else None


def new_user_figure(recorded: dict | None) -> float | None:
    """Our new-user figure: the mean nDCG@10 at 5 likes over the "given" and "random"
    variants, from :func:`recommender.newuser.headline` (None unless both are there)."""
    ours = (recorded or {}).get(newuser.OURS) or {}
    values = [ours.get(name) for name in NEW_USER_FIGURES]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return None
    return float(np.mean(values))


def new_user_baseline(meta: dict | None) -> float | None:
    """The current model's recorded new-user figure, if it has one."""
    return new_user_figure(((meta or {}).get("metrics") or {}).get(NEW_USER))


def judge(figure: str, new: float, old: float | None, max_drop: float,
          say: Callable[[str], None]) -> str | None:
    """Why the new ``figure`` fails the gate against the current model's, or None."""
    against = "no earlier figure" if old is None else f"current {old:.4f}"
    say(f"{figure[0].upper()}{figure[1:]} {new:.4f} ({against}).")
    if old is not None and new < old - max_drop:
        return (f"{figure} {new:.4f} is more than {max_drop:g} below the current model's "
                f"{old:.4f}")
    return None


def retrain(spark: SparkSession, job_settings: JobSettings,
            say: Callable[[str], None]) -> dict:
    """Run the whole retraining; return the result record (``status`` published/rejected).

    The gate allows a fall of up to ``job_settings.retrain.max_drop``; after publishing,
    ``retrain.keep_models`` versions are kept.

    ``new_score``/``old_score`` are the Recommenders protocol's held-out nDCG@10 of the
    new and the current model, ``new_user_score``/``old_new_user_score`` the new-user
    figure (:func:`new_user_figure`) of each; an old figure is None when the current
    model has none recorded, and a new one is missing when an earlier check rejected.
    """
    started = time.monotonic()
    settings, max_drop = job_settings.recommender, job_settings.retrain.max_drop
    current = artifacts.current_dir(settings.models_dir)
    old_meta = json.loads((current / artifacts.MODEL_JSON).read_text()) if current else None
    params = TrainParams.of_model(current) if current is not None else TrainParams()
    serving = ServingConfig.of_model(current) if current is not None else None
    old_score, old_new_user = baseline(old_meta), new_user_baseline(old_meta)
    record = {"previous": current.name if current else None, "old_score": old_score,
              "old_new_user_score": old_new_user, "max_drop": max_drop,
              "params": asdict(params)}

    def reject(reason: str) -> dict:
        record.update(status="rejected", seconds=round(time.monotonic() - started, 1),
                      reason=reason)
        return record

    data, n_bot, n_bot_users = gate_data(settings, read_bot_ratings(settings.db_path))
    record.update(ratings=len(data), bot_ratings=n_bot, bot_users=n_bot_users)
    say(f"Checking quality on a held-out split of {len(data):,} ratings "
        f"({n_bot:,} from {n_bot_users:,} bot users) ...")
    label = f"{dataset_label(settings)}+bot"
    lines = list(recommenders_protocol(spark, data, params, label, say=lambda _m: None,
                                       serving=serving))
    new_score = float(next(x[METRIC] for x in lines if x["model"] == OURS))
    record["new_score"] = new_score
    problem = judge("held-out nDCG@10", new_score, old_score, max_drop, say)
    if problem:
        return reject(problem)

    say("Checking how it serves users it never saw (the new-user protocol) ...")
    only_ours = len(np.unique(data.items)) > GATE_BASELINE_ITEMS
    nu_lines = list(newuser.new_user_protocol(spark, data, params, label,
                                              say=lambda _m: None, serving=serving,
                                              only_ours=only_ours))
    new_user = new_user_figure(newuser.headline(nu_lines))
    if new_user is None:  # the protocol always scores ours, even over no users
        raise RecommenderError(f"The new-user protocol gave no figure for {newuser.OURS}; "
                               "nothing was published")
    record["new_user_score"] = new_user
    problem = judge("new-user nDCG@10 (5 likes told)", new_user, old_new_user, max_drop, say)
    if problem:
        return reject(problem)

    say("Training on all ratings ...")
    # Read again: ratings given while the gate ran count too.
    folder = train(spark, settings, params, say=lambda _m: None, publish=False,
                   serving=serving, extra=read_bot_ratings(settings.db_path))
    try:
        write_results(lines, folder, PROTOCOL)
        write_results(nu_lines, folder, NEW_USER)
        artifacts.read_artifact(folder)  # exactly the bot's check, before anyone can see it
        artifacts.point_current(settings.models_dir, folder.name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    removed = artifacts.prune(settings.models_dir, job_settings.retrain.keep_models)
    record.update(status="published", version=folder.name, removed=removed,
                  seconds=round(time.monotonic() - started, 1))
    return record

"""Offline evaluation: the Microsoft Recommenders protocol and the cold-start protocol
(the new-user protocol lives in :mod:`recommender.newuser`, the cold-items protocol, films
nobody rated, in :mod:`recommender.colditems`).

Models are trained by Spark (``fit_arrays``) and served by numpy exactly as the bot
serves them (``Recommender.recommend`` with the serving config); the exact fold-in of
the same fit and the popularity baseline sit beside every result. Each result is one
JSON object on one line.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recommender.baselines import popularity
from recommender.config import ServingConfig
from recommender.errors import DatasetNotFound
from recommender.metrics import ranking_metrics
from recommender.preferences import is_dislike, is_like
from recommender.serve import Recommender
from recommender.train import TrainParams, fit_arrays

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

K = 10
SEED = 42
OURS = "spark-als"  # served as the bot serves it (the model's ServingConfig)
EXACT = "spark-als-foldin"  # the same fit, every user folded in exactly
MMR_DIVERSITY = 0.3

# Microsoft Recommenders' published MovieLens 100K results (their benchmark notebook).
PUBLISHED_ML100K_NDCG = {"ALS (explicit)": 0.044, "SAR": 0.382, "NCF": 0.396,
                         "LightGCN": 0.420, "BPR": 0.442, "BiVAE": 0.475}


@dataclass
class Ratings:
    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    ts: np.ndarray

    def subset(self, mask: np.ndarray) -> Ratings:
        return Ratings(self.users[mask], self.items[mask], self.ratings[mask], self.ts[mask])

    def __len__(self) -> int:
        return len(self.users)


def load_ratings(processed_dir: Path) -> Ratings:
    """The processed ratings table as numpy arrays (pyarrow; no Spark needed)."""
    import pyarrow.parquet as pq

    path = processed_dir / "ratings"
    if not path.is_dir():
        raise DatasetNotFound(f"No processed ratings in {processed_dir}; run "
                              "'python -m recommender data prepare' first.")
    table = pq.read_table(path, columns=["user_id", "item_id", "rating", "ts"])
    return Ratings(*(table.column(c).to_numpy() for c in ("user_id", "item_id", "rating", "ts")))


def stratified_split(items: np.ndarray, ratio: float, seed: int) -> np.ndarray:
    """Train mask: each item's ratings shuffled (seeded) and the first round(ratio·n) kept."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(items))
    order = perm[np.argsort(items[perm], kind="stable")]
    grouped = items[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    counts = np.diff(np.r_[starts, len(grouped)])
    position = np.arange(len(grouped)) - np.repeat(starts, counts)
    keep = position < np.repeat(np.rint(ratio * counts), counts)
    mask = np.zeros(len(items), dtype=bool)
    mask[order[keep]] = True
    return mask


def _by_user(data: Ratings) -> dict[int, np.ndarray]:
    if len(data) == 0:
        return {}
    order = np.argsort(data.users, kind="stable")
    users = data.users[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    return {int(users[s]): order[s:e] for s, e in zip(starts, np.r_[starts[1:], len(users)],
                                                        strict=True)}


def _top_k(scores: np.ndarray, banned: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` best scores that are not banned, best first."""
    scores = scores.astype(np.float64).copy()
    scores[banned] = -np.inf
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return top[np.isfinite(scores[top])]


def rank_with_model(rec: Recommender, history: Ratings, users: list[int],
                    vectors: Callable[[int, np.ndarray], np.ndarray] | None = None,
                    diversity: float = 0.0) -> dict[int, list[int]]:
    """Top-K item ids per user, served from each user's ``history`` as the bot serves it.

    Each rating is a like, neutral or dislike by the one rule
    (:mod:`recommender.preferences`) and goes through ``Recommender.recommend`` with
    the model's serving config; rated items never come back. ``vectors`` instead scores
    with a given user vector (Spark's own user factors, for comparison).
    """
    groups = _by_user(history)
    out: dict[int, list[int]] = {}
    for user in users:
        idx = groups.get(user, np.array([], dtype=np.int64))
        items, ratings = history.items[idx], history.ratings[idx]
        if vectors is not None:
            banned = ~rec.has_factors
            banned[rec.rows_of(items)] = True
            out[user] = rec.ids[_top_k(rec.scores(vectors(user, idx)), banned, K)].tolist()
            continue
        like, dislike = is_like(ratings), is_dislike(ratings)
        picks = rec.recommend(items[like].tolist(), items[dislike].tolist(), n=K,
                              exclude=items.tolist(), neutral=items[~like & ~dislike].tolist(),
                              diversity=diversity)
        out[user] = [r.item_id for r in picks]
    return out


def rank_by_popularity(train: Ratings, history: Ratings, users: list[int]) -> dict[int, list]:
    """The baseline: most-rated training items the user has not rated."""
    rank = popularity(train, on="ratings")
    groups = _by_user(history)
    empty = np.array([], dtype=np.int64)
    return {user: rank(history.items[groups.get(user, empty)], K) for user in users}


def relevant_sets(test: Ratings) -> dict[int, set[int]]:
    return {u: set(test.items[idx].tolist()) for u, idx in _by_user(test).items()}


def intra_list_similarity(rec: Recommender, ranked: dict[int, list[int]]) -> float:
    """Mean pairwise cosine of item factors inside each list (lower is more diverse)."""
    values = []
    for items in ranked.values():
        rows = rec.rows_of(items)
        v = rec.catalogue.unit_factors(rows).astype(np.float64)
        sims = v @ v.T
        n = len(rows)
        if n > 1:
            values.append((sims.sum() - np.trace(sims)) / (n * (n - 1)))
    return float(np.mean(values)) if values else 0.0


def _line(protocol: str, dataset: str, model: str, metrics: dict, **extra) -> dict:
    rounded = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()}
    return {"protocol": protocol, "dataset": dataset, "model": model, "k": K, **rounded,
            **extra}


def model_from_fit(fit, params: TrainParams, train: Ratings,
                   serving: ServingConfig | None = None) -> Recommender:
    """A servable model straight from a Spark fit on ``train`` (evaluation and tuning),
    with the popularity and like neighbours a published model would have."""
    ids, counts = np.unique(train.items, return_counts=True)
    pos = np.clip(np.searchsorted(ids, fit.item_ids), 0, max(len(ids) - 1, 0))
    popularity = np.where(ids[pos] == fit.item_ids, counts[pos], 0) if len(ids) else \
        np.zeros(len(fit.item_ids))
    return Recommender.from_arrays(fit.item_ids, fit.item_factors, asdict(params),
                                   popularity=popularity, serving=serving,
                                   neighbours=fit.neighbours)


def recommenders_protocol(spark: SparkSession, data: Ratings, params: TrainParams,
                          dataset: str, say=print,
                          serving: ServingConfig | None = None) -> Iterator[dict]:
    """75/25 split stratified by item (seed 42); every test rating is relevant.

    Ours is served with ``serving`` (default ``ServingConfig()``), as the bot would; the
    exact fold-in of the same fit stands beside it."""
    train_mask = stratified_split(data.items, 0.75, SEED)
    train, test = data.subset(train_mask), data.subset(~train_mask)
    relevant = relevant_sets(test)
    users = sorted(relevant)
    say(f"recommenders protocol: {len(train):,} train / {len(test):,} test ratings, "
        f"{len(users):,} test users")
    started = time.monotonic()
    fit = fit_arrays(spark, train.users, train.items, train.ratings, params)
    serving = serving or ServingConfig()
    rec = model_from_fit(fit, params, train, serving)
    ranked = rank_with_model(rec, train, users)
    sizes = {"train_ratings": len(train), "test_ratings": len(test)}
    yield _line("recommenders", dataset, OURS, ranking_metrics(ranked, relevant),
                params=asdict(params), serving=serving.to_dict(),
                ils=round(intra_list_similarity(rec, ranked), 4),
                seconds=round(time.monotonic() - started, 1), **sizes)
    diverse = rank_with_model(rec, train, users, diversity=MMR_DIVERSITY)
    yield _line("recommenders", dataset, f"{OURS}+mmr{MMR_DIVERSITY}",
                ranking_metrics(diverse, relevant), params=asdict(params),
                ils=round(intra_list_similarity(rec, diverse), 4), **sizes)
    exact = model_from_fit(fit, params, train, ServingConfig(scorer="fold-in"))
    folded = rank_with_model(exact, train, users)
    yield _line("recommenders", dataset, EXACT, ranking_metrics(folded, relevant),
                params=asdict(params), ils=round(intra_list_similarity(rec, folded), 4), **sizes)
    popular = rank_by_popularity(train, train, users)
    yield _line("recommenders", dataset, "popularity", ranking_metrics(popular, relevant),
                ils=round(intra_list_similarity(rec, popular), 4), **sizes)


def cold_start_split(data: Ratings, held_share: float = 0.2, fold_share: float = 0.8,
                     seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks: ratings of kept users; held users' first 80% (by time); their last 20%."""
    users = np.unique(data.users)
    rng = np.random.default_rng(seed)
    held = rng.choice(users, size=round(held_share * len(users)), replace=False)
    is_held = np.isin(data.users, held)
    fold = np.zeros(len(data), dtype=bool)
    for idx in _by_user(data.subset(is_held)).values():
        rows = np.flatnonzero(is_held)[idx]
        rows = rows[np.lexsort((data.items[rows], data.ts[rows]))]  # chronological
        fold[rows[: int(np.ceil(fold_share * len(rows)))]] = True
    target = is_held & ~fold
    return ~is_held, fold, target


def cold_start_protocol(spark: SparkSession, data: Ratings, params: TrainParams,
                        dataset: str, say=print,
                        serving: ServingConfig | None = None) -> Iterator[dict]:
    """Users never seen in training tell their first 80%; the rest is scored."""
    kept, fold, target = cold_start_split(data)
    train, history, test = data.subset(kept), data.subset(fold), data.subset(target)
    relevant = relevant_sets(test)
    users = sorted(relevant)
    say(f"cold-start protocol: {len(users):,} held-out users, {len(history):,} ratings folded "
        f"in, {len(test):,} scored; {len(train):,} training ratings")
    sizes = {"train_ratings": len(train), "folded_ratings": len(history),
             "test_ratings": len(test)}
    started = time.monotonic()
    fit = fit_arrays(spark, train.users, train.items, train.ratings, params)
    serving = serving or ServingConfig()
    rec = model_from_fit(fit, params, train, serving)
    ranked = rank_with_model(rec, history, users)
    yield _line("cold-start", dataset, OURS, ranking_metrics(ranked, relevant),
                params=asdict(params), serving=serving.to_dict(),
                seconds=round(time.monotonic() - started, 1), **sizes)
    exact = model_from_fit(fit, params, train, ServingConfig(scorer="fold-in"))
    yield _line("cold-start", dataset, EXACT,
                ranking_metrics(rank_with_model(exact, history, users), relevant), **sizes)
    popular = rank_by_popularity(train, history, users)
    yield _line("cold-start", dataset, "popularity", ranking_metrics(popular, relevant), **sizes)

    # The same users, trained normally: their 80% is in Spark's training data.
    both = data.subset(kept | fold)
    fit_all = fit_arrays(spark, both.users, both.items, both.ratings, params, neighbours=False)
    rec_all = model_from_fit(fit_all, params, both)
    user_row = {int(u): r for r, u in enumerate(fit_all.user_ids)}

    def spark_vector(user: int, _idx: np.ndarray) -> np.ndarray:
        return fit_all.user_factors[user_row[user]].astype(np.float64)

    trained = rank_with_model(rec_all, history, users, vectors=spark_vector)
    yield _line("cold-start", dataset, "spark-als-trained-users",
                ranking_metrics(trained, relevant), params=asdict(params), **sizes)


def protocols() -> dict[str, Callable[..., Iterator[dict]]]:
    """Every protocol by name (the new-user protocol lives in its own module)."""
    from recommender.colditems import cold_items_protocol
    from recommender.newuser import new_user_protocol

    return {"recommenders": recommenders_protocol, "cold-start": cold_start_protocol,
            "new-user": new_user_protocol, "cold-items": cold_items_protocol}


def write_results(lines: list[dict], folder: Path, protocol: str) -> Path:
    """Save next to the artifact (``<model>/evaluation/<protocol>.jsonl``) and record the
    headline metrics in its ``model.json`` (replaced atomically)."""
    out = folder / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{protocol}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    meta_path = folder / "model.json"
    meta = json.loads(meta_path.read_text())
    keys = ("map", f"ndcg@{K}", f"precision@{K}", f"recall@{K}", "users")
    if protocol == "new-user":
        from recommender.newuser import headline

        meta.setdefault("metrics", {})[protocol] = headline(lines)
    else:
        meta.setdefault("metrics", {})[protocol] = {
            line["model"]: {k: line[k] for k in keys if k in line} for line in lines}
    tmp = meta_path.with_name(f".model.json.{os.getpid()}")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, meta_path)
    return path


SHORT_NAMES = {"spark-als-foldin": "Spark ALS\nexact fold-in", "spark-als": "Spark ALS\n(ours)",
               "popularity": "popularity",
               "spark-als-trained-users": "Spark ALS\ntrained users",
               "item-cosine": "item-\ncosine",
               "ease": "EASE"}


def _short(model: str) -> str:
    if model.startswith("spark-als+mmr"):
        return f"ours\n+MMR {model.removeprefix('spark-als+mmr')}"
    return SHORT_NAMES.get(model, model)


def plot_comparison(lines: list[dict], path: Path) -> Path:
    """nDCG@10 bars: the Recommenders protocol beside the published ML-100K figures, then
    the new-user protocol at 5 likes (both variants) and the cold-start protocol, each on
    its own axis (their numbers are not comparable with each other)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = f"ndcg@{K}"
    panels = []
    ours = [(_short(x["model"]), x[metric], "#2b7bba") for x in lines
            if x["protocol"] == "recommenders" and metric in x]
    if ours:
        published = [(f"{name}\n(published)", value, "#b0b0b0")
                     for name, value in PUBLISHED_ML100K_NDCG.items()]
        panels.append(("Recommenders protocol (75/25 per item, all test ratings relevant)",
                       ours + published))
    for variant, colour in (("given", "#3a9e5c"), ("random", "#7a5cc2")):
        new = [(_short(x["model"]), x[metric], colour) for x in lines
               if x["protocol"] == "new-user" and x.get("variant") == variant
               and x.get("likes") == 5]
        if new:
            panels.append((f"New users, 5 likes ({variant} order)" if variant == "given"
                           else "New users, 5 likes (at random)", new))
    cold = [(_short(x["model"]), x[metric], "#e08a2c") for x in lines
            if x["protocol"] == "cold-start" and metric in x]
    if cold:
        panels.append(("Cold start: unseen users, first 80% told, the rest relevant", cold))
    # The first panel (with the published figures) takes a row; the rest share rows of two.
    rows = [panels[:1]] + [panels[i:i + 2] for i in range(1, len(panels), 2)] if panels else [[]]
    fig = plt.figure(figsize=(11, 3.6 * len(rows)), dpi=120)
    grid = fig.add_gridspec(len(rows), 2)
    axes = [fig.add_subplot(grid[r, :]) if len(row) == 1 else fig.add_subplot(grid[r, c])
            for r, row in enumerate(rows) for c in range(len(row))] or [fig.add_subplot(grid[0, :])]
    for ax, (title, bars) in zip(axes, panels, strict=False):
        values = [v for _, v, _ in bars]
        drawn = ax.bar(range(len(bars)), values, color=[c for _, _, c in bars])
        for bar, value in zip(drawn, values, strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, value + 0.004, f"{value:.3f}",
                    ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(bars)), [name for name, _, _ in bars], fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, max(values) * 1.15)
    for ax in axes:
        ax.set_ylabel(f"nDCG@{K}", fontsize=8)
    fig.suptitle("MovieLens 100K, top 10 (grey: Microsoft Recommenders' published results)",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

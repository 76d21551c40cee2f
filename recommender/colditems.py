"""The cold-items protocol: films nobody rated, scored from their content.

IMDb TV shows reach the bot with no ratings at all. To measure how well we rank such
items we make MovieLens films cold: the ratings of a random 10% of the films with at
least 20 ratings are hidden from training, split into a validation half (which chooses
the content model's features, ridge strength and rescaling) and a test half (which
chooses nothing). ALS is fitted once on the rest, minus a random 20% of the remaining
ratings kept back so that a *mixed* ranking (warm and cold films together) can be scored.

For each user who liked a hidden film, the hidden films of a half are ranked for them
(their training ratings told, as the bot is told), and nDCG@10 and recall@10 compare:

* ``content-factors``: ours, :mod:`recommender.content` (content -> ALS factor ridge),
  scored by the serving rule like any item with factors;
* ``content-rule``: today's :class:`~recommender.scorers.ContentScorer` (genre cosine x
  era x quality), which is how items without factors were served before;
* ``popularity-oracle``: hidden films by their *true* number of ratings, which no
  model can know for a cold item: an upper-ish baseline for what IMDb's vote count could
  add;
* ``random``.

The comparability check ranks warm and hidden films together and compares the share of
hidden films among users' top 10 with their share among the films the users liked but we
did not train on (kept-back and hidden alike), for ours and for today's rule (content
capped at ``CONTENT_WEIGHT`` of the best collaborative score).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recommender.config import ServingConfig
from recommender.content import RIDGES as CONTENT_RIDGES
from recommender.content import (
    ContentFactors,
    ContentParams,
    FeatureSpec,
    item_features,
    predict_factors,
)
from recommender.evaluate import SEED, K, Ratings, _by_user, _line
from recommender.metrics import ranking_metrics
from recommender.preferences import is_dislike, is_like
from recommender.serve import Recommender
from recommender.train import TrainParams, fit_arrays

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PROTOCOL = "cold-items"
HIDE_SHARE = 0.1  # of the films with at least MIN_RATINGS ratings
MIN_RATINGS = 20
KEEP_BACK = 0.2  # of the other ratings, for the mixed ranking
# Validation grid: feature groups, then ridge strength, then the rescaling.
SPECS = {
    "genres": FeatureSpec(year=False, kind=False, runtime=False, imdb=False, crew=False),
    "genres+year": FeatureSpec(kind=False, runtime=False, imdb=False, crew=False),
    "all": FeatureSpec(),
}
RIDGES: tuple[float | str, ...] = (*CONTENT_RIDGES, "auto")
SCALES: tuple[str | float, ...] = (1.0, "norm", 1.5, 2.0, 3.0)


@dataclass
class ColdSplit:
    """Training ratings, kept-back ratings of warm films, and the hidden films' ratings."""

    train: Ratings
    kept_back: Ratings
    hidden: Ratings
    halves: dict[str, np.ndarray]  # "validation" / "test" -> hidden film ids


def cold_items_split(data: Ratings, seed: int = SEED) -> ColdSplit:
    """Hide a random HIDE_SHARE of the films with MIN_RATINGS+ ratings (two halves) and
    keep back a random KEEP_BACK of the other ratings."""
    rng = np.random.default_rng(seed)
    films, counts = np.unique(data.items, return_counts=True)
    eligible = films[counts >= MIN_RATINGS]
    chosen = rng.permutation(rng.choice(eligible, size=round(HIDE_SHARE * len(eligible)),
                                        replace=False)) if len(eligible) else eligible
    half = len(chosen) // 2
    is_hidden = np.isin(data.items, chosen)
    kept_back = ~is_hidden & (rng.random(len(data)) < KEEP_BACK)
    return ColdSplit(data.subset(~is_hidden & ~kept_back), data.subset(kept_back),
                     data.subset(is_hidden),
                     {"validation": np.sort(chosen[:half]), "test": np.sort(chosen[half:])})


def load_items(processed_dir: Path) -> list[dict]:
    """The processed items table as dicts (pyarrow; no Spark needed)."""
    import pyarrow.parquet as pq

    return pq.read_table(processed_dir / "items").to_pylist()


def informative_groups(items: Sequence[dict]) -> list[str]:
    """Feature groups with at least one column that varies over ``items`` (on MovieLens
    without IMDb only genres and years do: say so instead of implying crew effects)."""
    x, names = item_features(items, FeatureSpec())
    x = x.tocsc()
    varies = [(x[:, j].max() != x[:, j].min()) for j in range(x.shape[1])]
    return sorted({names[j].split(":")[0] for j in range(len(names)) if varies[j]})


class Histories:
    """Each user's training ratings split by the one rating rule, ready to tell a model."""

    def __init__(self, train: Ratings) -> None:
        self.told: dict[int, tuple[list[int], list[int], list[int]]] = {}
        for user, idx in _by_user(train).items():
            items, ratings = train.items[idx], train.ratings[idx]
            like, dislike = is_like(ratings), is_dislike(ratings)
            self.told[user] = (items[like].tolist(), items[dislike].tolist(),
                               items[~like & ~dislike].tolist())

    def rank(self, rec: Recommender, users: Sequence[int],
             banned: Sequence[int]) -> dict[int, list[int]]:
        """Top-K ids per user as the bot serves them, never any of ``banned``."""
        out = {}
        for user in users:
            likes, dislikes, neutral = self.told.get(user, ([], [], []))
            picks = rec.recommend(likes, dislikes, n=K, exclude=banned, neutral=neutral)
            out[user] = [p.item_id for p in picks]
        return out


def liked_sets(ratings: Ratings, among: np.ndarray | None = None) -> dict[int, set[int]]:
    """Each user's liked items (only those in ``among`` when given)."""
    keep = is_like(ratings.ratings)
    if among is not None:
        keep &= np.isin(ratings.items, among)
    liked = ratings.subset(keep)
    return {u: set(liked.items[idx].tolist()) for u, idx in _by_user(liked).items()}


def rank_fixed(order: np.ndarray, users: Sequence[int]) -> dict[int, list[int]]:
    return {u: order[:K].tolist() for u in users}


def rank_random(films: np.ndarray, users: Sequence[int], seed: int) -> dict[int, list[int]]:
    rng = np.random.default_rng(seed)
    return {u: films[rng.permutation(len(films))[:K]].tolist() for u in users}


def mixed_shares(ranked: dict[int, list[int]], relevant: dict[int, set[int]],
                 hidden: np.ndarray) -> dict[str, float]:
    """Pooled share of hidden films in the top K and among the relevant (liked) films."""
    cold = set(hidden.tolist())
    users = [u for u in relevant if relevant[u] and u in ranked]
    shown = sum(len(ranked[u]) for u in users)
    liked = sum(len(relevant[u]) for u in users)
    return {"hidden_share_top10": sum(len(cold.intersection(ranked[u])) for u in users)
            / max(shown, 1),
            "hidden_share_likes": sum(len(cold & relevant[u]) for u in users) / max(liked, 1)}


@dataclass
class Setting:
    """What every ranking of one protocol run shares."""

    split: ColdSplit
    items: list[dict]
    fit: object
    params: TrainParams
    serving: ServingConfig
    histories: Histories

    def model(self, content: ContentFactors | None) -> Recommender:
        """A servable model of the fit (hidden films in the catalogue, without factors
        unless ``content`` predicts them)."""
        ids, counts = np.unique(self.split.train.items, return_counts=True)
        fit = self.fit
        popularity = counts[np.searchsorted(ids, fit.item_ids)]
        return Recommender.from_arrays(fit.item_ids, fit.item_factors, asdict(self.params),
                                       items=self.items, popularity=popularity,
                                       serving=self.serving, neighbours=fit.neighbours,
                                       content=content)

    def content(self, params: ContentParams) -> ContentFactors:
        return predict_factors(self.items, self.fit.item_ids, self.fit.item_factors, params)

    def hidden_only(self, rec: Recommender, half: str) -> tuple[dict, dict]:
        """(ranked, relevant): each half's films ranked among themselves."""
        films = self.split.halves[half]
        relevant = liked_sets(self.split.hidden, films)
        banned = np.setdiff1d(rec.catalogue.ids, films).tolist()
        return self.histories.rank(rec, sorted(relevant), banned), relevant

    def mixed(self, rec: Recommender, half: str) -> tuple[dict, dict]:
        """(ranked, relevant): warm films and this half's hidden films together."""
        films = self.split.halves[half]
        other = np.setdiff1d(np.concatenate(list(self.split.halves.values())), films)
        relevant = liked_sets(self.split.kept_back)
        for user, liked in liked_sets(self.split.hidden, films).items():
            relevant.setdefault(user, set()).update(liked)
        return self.histories.rank(rec, sorted(relevant), other.tolist()), relevant


def _metrics(ranked: dict, relevant: dict) -> dict:
    found = ranking_metrics(ranked, relevant)
    return {k: found[k] for k in (f"ndcg@{K}", f"recall@{K}", "users") if k in found}


def choose(setting: Setting, dataset: str, say) -> Iterator[dict | ContentParams]:
    """Validation lines for every candidate, then the chosen ContentParams: by nDCG@10,
    then with the scale that matches the hidden films' share of the likes."""
    best: tuple[float, ContentParams] | None = None
    for name, spec in SPECS.items():
        for ridge in RIDGES:
            params = ContentParams(spec, ridge, 1.0)  # rescaling cannot reorder cold films
            content = setting.content(params)
            found = _metrics(*setting.hidden_only(setting.model(content), "validation"))
            yield _line(PROTOCOL, dataset, "content-factors", found, split="validation",
                        features=name, ridge=ridge, ridge_used=content.info["ridge_used"])
            if best is None or found.get(f"ndcg@{K}", 0.0) > best[0]:
                best = (found.get(f"ndcg@{K}", 0.0), params)
    assert best is not None
    say(f"cold-items: validation chose {best[1].features} ridge {best[1].ridge}")
    chosen: tuple[float, ContentParams] | None = None
    shares: dict[str | float, float] = {}
    for scale in SCALES:
        params = replace(best[1], scale=scale)
        content = setting.content(params)
        ranked, relevant = setting.mixed(setting.model(content), "validation")
        found = _metrics(ranked, relevant)
        share = mixed_shares(ranked, relevant, setting.split.halves["validation"])
        shares[scale] = abs(share["hidden_share_top10"] - share["hidden_share_likes"])
        yield _line(PROTOCOL, dataset, "content-factors", found, split="validation",
                    ranking="mixed", ridge=params.ridge, scale=scale,
                    scale_used=content.info["scale_used"], **share)
        if chosen is None or found.get(f"ndcg@{K}", 0.0) > chosen[0]:
            chosen = (found.get(f"ndcg@{K}", 0.0), params)
    assert chosen is not None
    yield chosen[1]
    # The scale whose share of hidden films in the top 10 comes closest to their share of
    # the likes: what it would cost to show cold items as often as people like them.
    yield replace(best[1], scale=min(shares, key=shares.__getitem__))


def _spec_name(spec: FeatureSpec) -> str:
    return next((name for name, s in SPECS.items() if s == spec), "custom")


def _described(params: ContentParams, content: ContentFactors) -> dict:
    return {"features": _spec_name(params.features), "ridge": params.ridge,
            "ridge_used": content.info.get("ridge_used"), "scale": params.scale,
            "scale_used": content.info.get("scale_used")}


def final_lines(setting: Setting, params: ContentParams, dataset: str,
                matched: ContentParams | None = None) -> Iterator[dict]:
    """The test half: ours with the validation's params and with the defaults training
    publishes (when they differ), today's rule and the baselines; in the mixed ranking
    also ours rescaled to show hidden films as often as they are liked (``matched``)."""
    chosen = setting.content(params)
    models = [("content-factors", setting.model(chosen), _described(params, chosen))]
    if params != ContentParams():
        default = setting.content(ContentParams())
        models.append(("content-factors-default", setting.model(default),
                       _described(ContentParams(), default)))
    models.append(("content-rule", setting.model(None), {}))
    films = setting.split.halves["test"]
    informative = informative_groups(setting.items)
    for model, rec, extra in models:
        yield _line(PROTOCOL, dataset, model, _metrics(*setting.hidden_only(rec, "test")),
                    split="test", hidden_films=len(films), features_informative=informative,
                    **extra)
    relevant = liked_sets(setting.split.hidden, films)
    counts = {int(i): n for i, n in zip(*np.unique(setting.split.hidden.items,
                                                     return_counts=True), strict=True)}
    by_count = np.array(sorted(films.tolist(), key=lambda i: (-counts.get(i, 0), i)))
    yield _line(PROTOCOL, dataset, "popularity-oracle",
                _metrics(rank_fixed(by_count, sorted(relevant)), relevant), split="test",
                note="true rating counts of the hidden films: unknowable for a cold item")
    yield _line(PROTOCOL, dataset, "random",
                _metrics(rank_random(films, sorted(relevant), SEED), relevant), split="test")
    if matched is not None and matched != params:
        content = setting.content(matched)
        models.append(("content-factors-share-matched", setting.model(content),
                       _described(matched, content)))
    for model, rec, extra in models:
        ranked, mixed_relevant = setting.mixed(rec, "test")
        yield _line(PROTOCOL, dataset, model, _metrics(ranked, mixed_relevant), split="test",
                    ranking="mixed", **mixed_shares(ranked, mixed_relevant, films), **extra)


def cold_items_protocol(spark: SparkSession, data: Ratings, params: TrainParams,
                        dataset: str, say=print, serving: ServingConfig | None = None,
                        items: Sequence[dict] | None = None) -> Iterator[dict]:
    """Hidden films ranked from content (see the module docstring); one JSON line per
    result, validation lines first. ``items``: the catalogue's metadata (default: the
    processed items of ``Settings.from_env()``)."""
    split = cold_items_split(data)
    if min(map(len, split.halves.values())) == 0:
        say(f"cold-items: too few films have {MIN_RATINGS}+ ratings; nothing to hide")
        return
    if items is None:
        from recommender.settings import Settings

        items = load_items(Settings.from_env().processed_dir)
    say(f"cold-items protocol: {sum(map(len, split.halves.values()))} films hidden "
        f"({len(split.hidden):,} ratings), {len(split.train):,} training ratings, "
        f"{len(split.kept_back):,} kept back")
    started = time.monotonic()
    fit = fit_arrays(spark, split.train.users, split.train.items, split.train.ratings, params)
    setting = Setting(split, list(items), fit, params, serving or ServingConfig(),
                      Histories(split.train))
    chosen: list[ContentParams] = []
    for found in choose(setting, dataset, say):
        if isinstance(found, ContentParams):
            chosen.append(found)
        else:
            yield found
    for line in final_lines(setting, chosen[0], dataset, chosen[1]):
        yield {**line, "seconds": round(time.monotonic() - started, 1)}

"""Content to collaborative factors: a ridge regression for items nobody rated.

IMDb TV shows (and any film nobody rated) have no ALS factors. Rather than scoring them
with a separate, incomparable content rule, training fits a ridge regression from each
item's content features (genres, era, kind, runtime, IMDb votes and rating, directors
and writers) to its ALS item factor, over the items that have factors, and publishes the
prediction as the factor of every item without one. The collaborative scorers then score
cold and warm items alike (numpy only, at training time: no JVM per request).

    W = argmin ‖X W − Y‖² + λ‖W‖²   (intercept and feature scaling unpenalised),
    ŷ_j = scale · x_jᵀW

Ridge predictions are shrunk towards the mean factor, so their norms are smaller than
real factors'; ``scale`` multiplies them back (chosen on validation by the cold-items
protocol in :mod:`recommender.colditems`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scipy is imported where features are built: serving never needs it
    from scipy import sparse

# Runtime buckets in minutes: an episode, a long episode, a short film, a film, a long film.
RUNTIME_EDGES = (30, 60, 100, 130)


@dataclass(frozen=True)
class FeatureSpec:
    """Which content features to use. Defaults: chosen on the cold-items validation films
    where they could be measured (ML-100K has genres and years only)."""

    genres: bool = True
    year: bool = True  # standardised year plus one-hot decade
    kind: bool = True  # movie / tv
    runtime: bool = True  # bucketed
    imdb: bool = True  # log IMDb votes and IMDb rating (standardised)
    crew: bool = True  # directors and writers credited on >= min_credits items
    min_credits: int = 2
    max_people: int = 2000  # the most credited people only: XᵀX stays small


# "auto" ridge: the strength with the smallest factor error on held-out items among these.
RIDGES = (0.1, 1.0, 10.0, 100.0, 1000.0)
HELD_ITEMS = 0.2


@dataclass(frozen=True)
class ContentParams:
    """The regression's knobs: features, ridge strength and the rescaling of predictions.

    ``ridge`` "auto" picks λ per fit (:func:`choose_ridge`): the best λ depends on how many
    feature columns there are (a few dozen on MovieLens, thousands with IMDb's crew).
    ``scale`` 1: predictions as fitted; on ML-100K validation no rescaling beat it
    (README, "Evaluation").
    """

    features: FeatureSpec = FeatureSpec()
    ridge: float | str = "auto"
    scale: str | float = 1.0  # "norm": match the mean norm of real factors; or a number

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ContentFactors:
    """Predicted factors for items without trained ones (``item_ids`` sorted)."""

    item_ids: np.ndarray
    factors: np.ndarray  # float32, one row per id
    info: dict  # what was fitted: features, λ, scale, fit quality


def _column(items: Sequence[dict], key: str) -> np.ndarray:
    return np.array([np.nan if m.get(key) is None else float(m[key]) for m in items])


def _standard(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardised values (0 where missing) and the missing indicator."""
    missing = ~np.isfinite(values)
    if missing.all():
        return np.zeros(len(values)), missing.astype(np.float64)
    known = values[~missing]
    sd = known.std() or 1.0
    return np.where(missing, 0.0, (values - known.mean()) / sd), missing.astype(np.float64)


def _one_hot(labels: Sequence[Sequence[str]], prefix: str,
             keep: set[str] | None = None) -> tuple[sparse.csr_matrix, list[str]]:
    """A sparse 0/1 matrix with one column per label (those in ``keep`` if given)."""
    from scipy import sparse

    names = sorted({x for xs in labels for x in xs if keep is None or x in keep})
    index = {x: j for j, x in enumerate(names)}
    rows, cols = [], []
    for r, xs in enumerate(labels):
        for x in set(xs):
            if x in index:
                rows.append(r)
                cols.append(index[x])
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)),
                               shape=(len(labels), len(names)))
    return matrix, [f"{prefix}:{x}" for x in names]


def _people(items: Sequence[dict], spec: FeatureSpec) -> tuple[sparse.csr_matrix, list[str]]:
    # One person credited once says nothing about any other item: only people on at least
    # ``min_credits`` items can carry taste from one item to another.
    credits = [tuple({*(m.get("directors") or ()), *(m.get("writers") or ())})
               for m in items]
    counts = Counter(p for people in credits for p in people)
    common = [p for p, n in counts.most_common() if n >= spec.min_credits][:spec.max_people]
    return _one_hot(credits, "person", set(common))


def _numeric(items: Sequence[dict], spec: FeatureSpec) -> tuple[list[np.ndarray], list[str]]:
    columns, names = [], []
    if spec.year:
        year, missing = _standard(_column(items, "year"))
        columns += [year, missing]
        names += ["year", "year:missing"]
    if spec.imdb:
        votes, missing = _standard(np.log1p(_column(items, "imdb_votes")))
        rating, no_rating = _standard(_column(items, "imdb_rating"))
        columns += [votes, missing, rating, no_rating]
        names += ["imdb:log_votes", "imdb:votes_missing", "imdb:rating", "imdb:rating_missing"]
    return columns, names


def _runtime_bucket(minutes: float) -> tuple[str, ...]:
    if not math.isfinite(minutes):
        return ()
    return (str(int(np.searchsorted(RUNTIME_EDGES, minutes, side="right"))),)


def item_features(items: Sequence[dict], spec: FeatureSpec = FeatureSpec()) -> tuple[
        sparse.csr_matrix, list[str]]:
    """The content feature matrix of ``items`` (one row each, in order) and column names.

    Built over the whole catalogue at once, so every item shares the same columns and
    the same standardisation (no labels are involved). Missing values are 0 with an
    indicator column; an item without IMDb data simply has no crew columns set.
    """
    from scipy import sparse

    blocks: list[sparse.spmatrix] = []
    names: list[str] = []

    def add(block: tuple[sparse.spmatrix, list[str]]) -> None:
        blocks.append(block[0])
        names.extend(block[1])

    if spec.genres:
        add(_one_hot([tuple(m.get("genres") or ()) for m in items], "genre"))
    if spec.year:
        decades = [() if m.get("year") is None else (str(int(m["year"]) // 10 * 10),)
                   for m in items]
        add(_one_hot(decades, "decade"))
    if spec.kind:
        add(_one_hot([(str(m.get("kind") or "movie"),) for m in items], "kind"))
    if spec.runtime:
        add(_one_hot([_runtime_bucket(x) for x in _column(items, "runtime_minutes")],
                     "runtime"))
    numeric, numeric_names = _numeric(items, spec)
    if numeric:
        add((sparse.csr_matrix(np.column_stack(numeric)), numeric_names))
    if spec.crew:
        add(_people(items, spec))
    if not blocks:
        return sparse.csr_matrix((len(items), 0)), []
    return sparse.hstack(blocks, format="csr"), names


def fit_ridge(x: sparse.spmatrix, y: np.ndarray, ridge: float) -> tuple[np.ndarray,
                                                                        np.ndarray]:
    """(W, b) minimising ‖X W + b − Y‖² + ridge·‖W‖² (the intercept b unpenalised)."""
    from scipy import sparse

    x = sparse.csr_matrix(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean_x = np.asarray(x.mean(axis=0)).ravel()
    mean_y = y.mean(axis=0)
    # Centring both sides removes the intercept; XᵀX is features x features (small).
    gram = (x.T @ x).toarray() - len(y) * np.outer(mean_x, mean_x)
    gram[np.diag_indices_from(gram)] += ridge
    rhs = np.asarray(x.T @ y) - len(y) * np.outer(mean_x, mean_y)
    weights = np.linalg.solve(gram, rhs) if gram.size else np.zeros((0, y.shape[1]))
    return weights, mean_y - mean_x @ weights


def choose_ridge(x: sparse.spmatrix, y: np.ndarray, seed: int = 0) -> float:
    """The λ of :data:`RIDGES` whose fit on 80% of the items predicts the other 20%'s
    factors with the smallest squared error (seeded; 10 when there are too few items)."""
    held = np.random.default_rng(seed).random(len(y)) < HELD_ITEMS
    if held.sum() < 2 or (~held).sum() < 2:
        return 10.0
    x = x.tocsr()
    errors = {}
    for ridge in RIDGES:
        weights, intercept = fit_ridge(x[~held], y[~held], ridge)
        errors[ridge] = float(((x[held] @ weights + intercept - y[held]) ** 2).sum())
    return min(errors, key=errors.__getitem__)


def _scale_of(scale: str | float, real: np.ndarray, predicted: np.ndarray) -> float:
    """The factor predictions are multiplied by: a number, or "norm" (mean norm ratio)."""
    if scale != "norm":
        return float(scale)
    got = float(np.linalg.norm(predicted, axis=1).mean()) if len(predicted) else 0.0
    return float(np.linalg.norm(real, axis=1).mean()) / got if got > 0 else 1.0


def predict_factors(items: Sequence[dict], item_ids: np.ndarray, item_factors: np.ndarray,
                    params: ContentParams = ContentParams()) -> ContentFactors:
    """Predicted factors for every item of ``items`` that ``item_ids`` lacks.

    Fitted on the items with non-zero factors (a zero factor is an item rated but never
    liked: no taste to learn from). With nothing to fit on or nothing to predict, the
    result is empty and serving falls back to the content rule.
    """
    rank = item_factors.shape[1] if item_factors.ndim == 2 else 0
    have = {int(i): r for r, i in enumerate(np.asarray(item_ids).tolist())}
    ids = np.array([int(m["item_id"]) for m in items], dtype=np.int64)
    train = np.array([have.get(int(i), -1) for i in ids])
    usable = train >= 0
    usable[usable] = np.abs(item_factors[train[usable]]).sum(axis=1) > 0
    cold = np.array([int(i) not in have for i in ids], dtype=bool)
    empty = ContentFactors(np.zeros(0, np.int64), np.zeros((0, rank), np.float32),
                           {"fitted_on": 0})
    if not usable.any() or not cold.any():
        return empty
    x, names = item_features(items, params.features)
    y = item_factors[train[usable]].astype(np.float64)
    ridge = choose_ridge(x[usable], y) if params.ridge == "auto" else float(params.ridge)
    weights, intercept = fit_ridge(x[usable], y, ridge)
    fitted = x[usable] @ weights + intercept
    predicted = x[cold] @ weights + intercept
    scale = _scale_of(params.scale, y, fitted)
    residual = float(((fitted - y) ** 2).sum() / max(((y - y.mean(axis=0)) ** 2).sum(), 1e-12))
    info = {**params.to_dict(), "ridge_used": ridge, "scale_used": round(scale, 4),
            "features_used": len(names),
            "fitted_on": int(usable.sum()), "predicted": int(cold.sum()),
            "train_r2": round(1.0 - residual, 4)}
    order = np.argsort(ids[cold])
    return ContentFactors(ids[cold][order], (scale * predicted[order]).astype(np.float32),
                          info)

"""Scorers: how someone's likes and dislikes become one score per catalogue row.

Every scorer has one interface, ``score(taste) -> Scores | None`` (None: nothing to go
on, e.g. no liked item with factors), and every score it gives splits exactly into one
share per rated item plus a remainder (a prior that belongs to no rated item):

    values[j] = Σ_i share_i(j) + remainder(j)

which is what ``because`` reports. The scorers:

* :class:`NeighbourScorer` (the default for people who only told us likes): a
  neighbourhood over the ALS item factors blended with the like cosines training
  published (:mod:`recommender.neighbours`),
  score_j = (1-b)·Σ_i w_i·y_iᵀy_j / M + b·Σ_i w_i·cos(i, j) / M′ + β·p_j, with w_i = +1
  for a like, the scheme's neutral/like ratio for a neutral rating and -dislike_weight for
  a dislike, M and M′ the largest absolute value of each sum (so a user's best neighbour
  scores about 1 whoever they are), b = ``cooccurrence_weight`` and p_j the popularity
  relative to the most rated item (for an item with content-predicted factors, which has no
  cosines, the first term at full weight). One dense and one sparse matrix-vector product.
* :class:`FoldInScorer`: the user vector Spark's implicit ALS would train for this user,
  the solution of the regularised normal equations (with c_i = alpha·|r_i| and n⁺ the
  number of positive entries; Spark scales regParam by it; YᵀY is computed once)

      A = YᵀY + Σ_i c_i·y_i·y_iᵀ + regParam·n⁺·I,   b = Σ_{r_i > 0} (1 + c_i)·y_i,   A x = b

  The score y_jᵀx is linear in b, so item i's share is (1 + c_i)·y_jᵀA⁻¹y_i.
* :class:`ContentScorer`: genre and era affinity with the liked items times quality,
  for items without factors (unrated TV shows) and people who liked only such items.
* :class:`PopularityScorer`: the damped mean rating, for people we know nothing about.

:class:`ServingRule` picks the collaborative scorer (``ServingConfig``) and
:func:`with_content` fills in the items without factors. Items whose factors were
predicted from content at training time (:mod:`recommender.content`) are scored by the
collaborative scorers like any other, and reported with source "content".
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from recommender.catalogue import Catalogue, Taste
from recommender.config import ServingConfig
from recommender.preferences import strength

# An item without factors can reach at most this share of the best collaborative score.
CONTENT_WEIGHT = 0.9

# rows -> (len(rows), number of rated items) matrix of unscaled shares.
ShareMatrix = Callable[[np.ndarray], np.ndarray]
Shares = list[tuple[int, float]]


class Scores:
    """A score for every catalogue row (``values``, read-only) and what each is made of.

    ``item_ids`` are the rated items behind the shares; the scores, shares and
    remainder are all multiplied by ``times`` and divided by ``over`` (see
    :meth:`rescaled`), so they stay on the scale of ``values``.
    """

    def __init__(self, values: np.ndarray, source: str, item_ids: Sequence[int] = (),
                 share_matrix: ShareMatrix | None = None, prior: np.ndarray | None = None,
                 times: float = 1.0, over: float = 1.0) -> None:
        self.values = values
        self.source = source
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self._share_matrix = share_matrix
        self._prior = prior
        self._times, self._over = times, over

    def rescaled(self, times: float = 1.0, over: float = 1.0,
                 out: np.ndarray | None = None) -> Scores:
        """These scores, shares and remainder times ``times`` over ``over`` (both > 0).

        ``out``: where to write the new values (may be ``self.values``: in place). On
        87,000 items a fresh array costs more than the division itself.
        """
        # Multiply, then divide, and skip the identities: the same floating point
        # operations as scaling the scores by hand.
        values = self.values
        if times != 1.0:
            values = np.multiply(values, times, out=out)
        if over != 1.0:
            values = np.divide(values, over, out=out)
        if out is not None and values is not out:
            out[:] = values
            values = out
        return Scores(values, self.source, self.item_ids, self._share_matrix, self._prior,
                      self._times * times, self._over * over)

    def source_of(self, row: int) -> str:
        """Where the score of ``row`` comes from: collaborative, content or popular."""
        return self.source

    def _matrix(self, rows: np.ndarray) -> np.ndarray:
        if self._share_matrix is None or len(self.item_ids) == 0:
            return np.zeros((len(rows), 0))
        return self._share_matrix(rows)

    def shares(self, rows: np.ndarray) -> list[Shares]:
        """For each row, every rated item's share of its score: [(item_id, share)]."""
        matrix = self._matrix(rows) * self._times / self._over
        ids = self.item_ids.tolist()
        return [list(zip(ids, map(float, line), strict=True)) for line in matrix]

    def remainder(self, rows: np.ndarray) -> np.ndarray:
        """The part of each row's score no rated item accounts for (the prior)."""
        if self._prior is None:
            return np.zeros(len(rows))
        return self._prior[rows] * self._times / self._over

    def because(self, rows: np.ndarray, limit: int) -> dict[int, tuple[tuple[int, float], ...]]:
        """Each row's ``limit`` largest positive shares, best first (ties: rated order)."""
        if len(rows) == 0:
            return {}
        matrix = self._matrix(rows)
        out = {}
        for r, line in zip(rows.tolist(), matrix, strict=True):
            best = np.argsort(-line, kind="stable")[:limit]
            out[r] = tuple((int(self.item_ids[j]), float(line[j] * self._times / self._over))
                           for j in best if line[j] > 0)
        return out


class Blend(Scores):
    """``primary`` scores with ``secondary``'s on ``rows``; ``mask`` marks the rows that
    ``secondary`` explains. Takes over ``primary.values`` (a per-request array): the
    ``rows`` are overwritten in place, as copying 87,000 scores would cost more."""

    def __init__(self, primary: Scores, secondary: Scores, rows: np.ndarray,
                 mask: np.ndarray) -> None:
        values = primary.values
        values[rows] = secondary.values[rows]
        super().__init__(values, primary.source)
        self.primary, self.secondary, self.rows, self.mask = primary, secondary, rows, mask

    def rescaled(self, times: float = 1.0, over: float = 1.0,
                 out: np.ndarray | None = None) -> Scores:
        blend = Blend(self.primary.rescaled(times, over), self.secondary.rescaled(times, over),
                      self.rows, self.mask)
        if out is not None:
            out[:] = blend.values
            blend.values = out
        return blend

    def _part(self, row: int) -> Scores:
        return self.secondary if self.mask[row] else self.primary

    def source_of(self, row: int) -> str:
        return self._part(row).source

    def _split(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        second = self.mask[rows]
        return rows[~second], rows[second]

    def shares(self, rows: np.ndarray) -> list[Shares]:
        first, second = self._split(rows)
        found = dict(zip(first.tolist(), self.primary.shares(first), strict=True))
        found.update(zip(second.tolist(), self.secondary.shares(second), strict=True))
        return [found[r] for r in rows.tolist()]

    def remainder(self, rows: np.ndarray) -> np.ndarray:
        return np.where(self.mask[rows], self.secondary.remainder(rows),
                        self.primary.remainder(rows))

    def because(self, rows: np.ndarray, limit: int) -> dict[int, tuple[tuple[int, float], ...]]:
        first, second = self._split(rows)
        return {**self.primary.because(first, limit), **self.secondary.because(second, limit)}


class Scorer(Protocol):
    """Anything that scores a taste over the whole catalogue."""

    source: str

    def score(self, taste: Taste) -> Scores | None:
        """Scores for every catalogue row, or None when the taste gives nothing to go on."""
        ...


class _Linear(Protocol):
    """A collaborative scorer's per-request state before the matrix product."""

    vector: np.ndarray  # float32, rank: the scores are factors @ vector (then finished)

    def finish(self, raw: np.ndarray) -> Scores:
        """Scores from the product ``raw`` (float64 raw is used, and changed, in place).
        Called once per request: it may use up the request's own arrays."""
        ...


class FactorScorer:
    """A scorer whose raw scores are one product of the item factors with a vector.

    ``relative``: its scores have no fixed scale (they grow with the number of likes),
    so serving divides them by the best one.
    """

    source = "collaborative"
    relative = False

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def prepare(self, taste: Taste) -> _Linear | None:
        raise NotImplementedError

    def score(self, taste: Taste) -> Scores | None:
        prepared = self.prepare(taste)
        if prepared is None:
            return None
        return prepared.finish(self.catalogue.factors @ prepared.vector)

    def score_many(self, tastes: Sequence[Taste],
                   out: Sequence[np.ndarray] | None = None) -> list[Scores | None]:
        """:meth:`score` of each taste, all in one matrix product (group requests).

        ``out``: a float64 row per taste to hold its scores (no fresh 87,000-item
        array per member).
        """
        live = [(k, p) for k, p in enumerate(map(self.prepare, tastes)) if p is not None]
        found: list[Scores | None] = [None] * len(tastes)
        if not live:
            return found
        block = np.stack([p.vector for _, p in live]) @ self.catalogue.factors.T
        for (k, prepared), raw in zip(live, block, strict=True):
            if out is not None:
                out[k][:] = raw
                raw = out[k]
            found[k] = prepared.finish(raw)
        return found


# ----- the exact fold-in ----------------------------------------------------------------


class _FoldIn:
    """A solved fold-in: the user vector x, the matrix A and the right-hand side's terms."""

    def __init__(self, catalogue: Catalogue, x: np.ndarray, a: np.ndarray,
                 weights: np.ndarray, rows: np.ndarray) -> None:
        self.catalogue, self.x, self.a = catalogue, x, a
        positive = weights > 0
        self.weights, self.rows = weights[positive], rows[positive]
        self.vector = x.astype(np.float32)

    def finish(self, raw: np.ndarray) -> Scores:
        inverse: list[np.ndarray] = []  # A⁻¹, computed once, only if a share is asked for

        def share_matrix(rows: np.ndarray) -> np.ndarray:
            if not inverse:
                inverse.append(np.linalg.inv(self.a))
            y = self.catalogue.factors
            return (y[rows].astype(np.float64) @ inverse[0]) @ (
                y[self.rows].astype(np.float64).T * self.weights)

        return Scores(np.asarray(raw, dtype=np.float64), "collaborative",
                      self.catalogue.ids[self.rows], share_matrix)


class FoldInScorer(FactorScorer):
    """Spark's implicit ALS user update, solved for one user at request time."""

    relative = True

    def __init__(self, catalogue: Catalogue, alpha: float, reg_param: float,
                 scheme: str) -> None:
        super().__init__(catalogue)
        self.alpha, self.reg_param = alpha, reg_param
        self.like_strength, self.neutral_strength = map(
            float, strength(scheme, np.array([5.0, 3.0])))
        # Spark's YᵀY runs over the items it trained: content-predicted rows stay out.
        # Once per model (every fold-in's shared term), a block of rows at a time: a
        # float64 copy of all the factors would add to the bot's peak memory on loading.
        rank = catalogue.factors.shape[1]
        self.yty = np.zeros((rank, rank))
        for first in range(0, len(catalogue), 8192):
            block = slice(first, first + 8192)
            y = catalogue.factors[block][catalogue.trained[block]].astype(np.float64)
            self.yty += y.T @ y

    def _system(self, rows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
        keep = self.catalogue.has_factors[rows] & (values != 0)
        rows, values = rows[keep], values[keep]
        y = self.catalogue.factors[rows].astype(np.float64)
        c = self.alpha * np.abs(values)
        positive = values > 0
        a = self.yty + (y.T * c) @ y
        a[np.diag_indices_from(a)] += self.reg_param * positive.sum()
        weights = np.where(positive, 1.0 + c, 0.0)
        return a, weights, rows

    def solve(self, item_ids: Sequence[int], values: Sequence[float]) -> _FoldIn:
        """The user vector for strengths ``values`` with the system behind it."""
        rows = self.catalogue.row.rows(np.fromiter(map(int, item_ids), dtype=np.int64))
        values = np.asarray(values, dtype=np.float64)
        known = rows >= 0
        a, weights, rows = self._system(rows[known], values[known])
        if not (weights > 0).any():
            x = np.zeros(self.catalogue.factors.shape[1])
        else:
            b = self.catalogue.factors[rows].astype(np.float64).T @ weights
            x = np.linalg.solve(a, b)
        return _FoldIn(self.catalogue, x, a, weights, rows)

    def solve_likes(self, likes: Sequence[int], dislikes: Sequence[int],
                    neutral: Sequence[int] = ()) -> _FoldIn:
        """:meth:`solve` for likes (the strength of a 5), dislikes (its opposite) and
        neutral ratings (the strength of a 3)."""
        ids = list(likes) + list(dislikes) + list(neutral)
        values = ([self.like_strength] * len(likes) + [-abs(self.like_strength)] * len(dislikes)
                  + [self.neutral_strength] * len(neutral))
        return self.solve(ids, values)

    def scores(self, user_vector: np.ndarray) -> np.ndarray:
        """Raw scores of every catalogue row for a user vector (no factors: 0)."""
        return self.catalogue.factors @ user_vector.astype(np.float32)

    def prepare(self, taste: Taste) -> _FoldIn | None:
        solved = self.solve_likes(taste.likes, taste.dislikes, taste.neutral)
        return solved if np.any(solved.x) else None


# ----- the neighbourhood ----------------------------------------------------------------


_NO_ROWS = np.zeros(0, dtype=np.int64)


class _Neighbours:
    """One request's rated items: v = Σ_i w_i·y_i, and c = Σ_i w_i·S_i over the like
    cosines S (when the model publishes them and the config blends them in)."""

    def __init__(self, scorer: NeighbourScorer, rows: np.ndarray, weights: np.ndarray) -> None:
        self.scorer, self.rows, self.weights = scorer, rows, weights
        factors = scorer.catalogue.factors
        self.vector = (weights @ factors[rows].astype(np.float64)).astype(np.float32)
        self.blend = scorer.cooccurrence_weight if scorer.cosines is not None else 0.0
        self.linked = (scorer.cosines.weighted_sum(rows, weights) if self.blend > 0
                       else None)  # c_j for every row

    def any(self) -> bool:
        return bool(np.any(self.vector)) or (self.linked is not None
                                             and bool(np.any(self.linked)))

    def finish(self, raw: np.ndarray) -> Scores:
        # Items without factors score exactly 0, so the largest |score| over every row is
        # the largest over the items with factors.
        scale = float(max(raw.max(), -raw.min()))
        factor_part = (1.0 - self.blend) / scale if scale > 0 else 0.0
        # Rows with content-predicted factors have no like cosines (nobody liked them yet),
        # so their cosine term is imputed by their factor term: the factor part at full
        # weight. Otherwise the blend would cap them at 1 - b of any film's score.
        predicted = self.scorer.predicted_rows if self.blend > 0 else _NO_ROWS
        full_part = 1.0 / scale if scale > 0 else 0.0
        imputed = raw[predicted].astype(np.float64) * full_part
        # Each step one pass over the catalogue, in place: at 87,000 items the passes,
        # not the arithmetic, are what a request pays for.
        values = (np.multiply(raw, factor_part, out=raw) if raw.dtype == np.float64
                  else np.multiply(raw, factor_part, dtype=np.float64))
        link_part = 0.0
        if self.linked is not None:
            linked = self.linked
            top = float(max(linked.max(), -linked.min()))
            link_part = self.blend / top if top > 0 else 0.0
            values += np.multiply(linked, link_part, out=linked)
        values[predicted] = imputed
        values += self.scorer.prior
        y = self.scorer.catalogue.factors
        cosines = self.scorer.cosines
        is_predicted = self.scorer.catalogue.predicted

        def share_matrix(rows: np.ndarray) -> np.ndarray:
            sims = y[rows].astype(np.float64) @ y[self.rows].astype(np.float64).T
            parts = np.where(is_predicted[rows] & (self.blend > 0), full_part, factor_part)
            shares = sims * self.weights * parts[:, None]
            if link_part:
                linked = cosines.block(self.rows, rows).T
                shares += linked * (self.weights * link_part)
            return shares

        return Scores(values, "collaborative", self.scorer.catalogue.ids[self.rows],
                      share_matrix, prior=self.scorer.prior)


class NeighbourScorer(FactorScorer):
    """Item-based neighbours over the ALS factors (blended with the published like
    cosines when there are any), plus a popularity prior."""

    def __init__(self, catalogue: Catalogue, popularity_weight: float,
                 dislike_weight: float, cooccurrence_weight: float = 0.0,
                 neutral_weight: float = 0.5) -> None:
        super().__init__(catalogue)
        self.popularity_weight, self.dislike_weight = popularity_weight, dislike_weight
        self.cooccurrence_weight, self.neutral_weight = cooccurrence_weight, neutral_weight
        self.cosines = catalogue.like_neighbours
        most = catalogue.popularity.max(initial=0.0)
        relative = catalogue.popularity / most if most > 0 else np.zeros(len(catalogue))
        self.prior = popularity_weight * relative  # β·p_j, once per model
        self.predicted_rows = np.flatnonzero(catalogue.predicted)

    def prepare(self, taste: Taste) -> _Neighbours | None:
        has = self.catalogue.has_factors
        likes = taste.like_rows[has[taste.like_rows]]
        if len(likes) == 0:  # dislikes alone say what not to watch, not what to
            return None
        neutral = taste.neutral_rows[has[taste.neutral_rows]]
        dislikes = taste.dislike_rows[has[taste.dislike_rows]]
        if self.dislike_weight == 0:
            dislikes = dislikes[:0]
        rows = np.concatenate([likes, neutral, dislikes])
        weights = np.concatenate([np.ones(len(likes)), np.full(len(neutral), self.neutral_weight),
                                  np.full(len(dislikes), -self.dislike_weight)])
        found = _Neighbours(self, rows, weights)
        return found if found.any() else None  # likes cancelled by dislikes


# ----- content and popularity -----------------------------------------------------------


class ContentScorer:
    """Genre and era affinity with the liked items, times quality (0..1)."""

    source = "content"

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def score(self, taste: Taste, rows: np.ndarray | None = None,
              times: float = 1.0) -> Scores | None:
        """Scores of ``rows`` (every row when None; the others score 0), times ``times``.

        genre_j = u_jᵀ(Σ_i u_i)/|Σ_i u_i| over unit genre vectors u, era_j decays with
        the distance to the liked items' mean year (15-year scale, 0.5 when unknown), so
        item i's share of score_j is u_jᵀu_i/|Σ u|·era_j·quality_j/5.
        """
        like_rows = taste.like_rows
        if len(like_rows) == 0:
            return None
        cat = self.catalogue
        profile = cat.unit_genres[like_rows].sum(axis=0)
        norm = np.linalg.norm(profile)
        liked_years = cat.years[like_rows]
        mean_year = np.nanmean(liked_years) if np.isfinite(liked_years).any() else None

        def era(rs: np.ndarray) -> np.ndarray:
            if mean_year is None:
                return np.ones(len(rs))
            return np.nan_to_num(np.exp(-np.abs(cat.years[rs] - mean_year) / 15.0), nan=0.5)

        def share_matrix(rs: np.ndarray) -> np.ndarray:
            if norm == 0:
                return np.zeros((len(rs), len(like_rows)))
            sims = cat.unit_genres[rs].astype(np.float64) @ cat.unit_genres[like_rows].T
            return sims / norm * (era(rs) * (cat.quality[rs] / 5.0))[:, None]

        subset = np.arange(len(cat)) if rows is None else rows
        genres = cat.unit_genres[subset] @ (profile / norm) if norm > 0 else np.zeros(
            len(subset))
        values = genres * era(subset) * (cat.quality[subset] / 5.0)
        if times != 1.0:
            values *= times
        if rows is not None:
            values, partial = np.zeros(len(cat)), values
            values[rows] = partial
        return Scores(values, self.source, cat.ids[like_rows], share_matrix, times=times)


class PopularityScorer:
    """Cold start: the damped mean rating (quality/5), the same for everyone."""

    source = "popular"

    def __init__(self, catalogue: Catalogue) -> None:
        self.values = catalogue.quality / 5.0

    def score(self, taste: Taste | None = None) -> Scores:
        return Scores(self.values, self.source, prior=self.values)


# ----- which scorer serves --------------------------------------------------------------


class ServingRule:
    """The scorers of one model and the ``ServingConfig`` choosing between them."""

    def __init__(self, catalogue: Catalogue, params: dict, config: ServingConfig) -> None:
        self.catalogue, self.config = catalogue, config
        self.fold_in = FoldInScorer(catalogue, float(params.get("alpha", 1.0)),
                                    float(params.get("reg_param", 0.1)),
                                    str(params.get("scheme", "raw")))
        scheme = str(params.get("scheme", "raw"))
        like, neutral = strength(scheme, np.array([5.0, 3.0]))
        self.neighbours = NeighbourScorer(
            catalogue, config.popularity_weight, config.dislike_weight,
            config.cooccurrence_weight,
            neutral_weight=float(np.clip(neutral / like, 0.0, 1.0)) if like > 0 else 0.0)
        self.content = ContentScorer(catalogue)
        self.popularity = PopularityScorer(catalogue)

    def collaborative_for(self, taste: Taste) -> FactorScorer:
        """The collaborative scorer for this taste: the exact fold-in once the user has
        rated ``fold_in_from`` titles and not all of them are likes (it weighs a dislike or a
        lukewarm rating by its confidence, where the neighbourhood only adds and subtracts
        neighbours); the neighbours otherwise, however many likes."""
        weighed = len(taste.dislikes) + len(taste.neutral)
        told = len(taste.likes) + weighed
        many = 0 < self.config.fold_in_from <= told and weighed > 0
        if self.config.scorer == "fold-in" or many:
            return self.fold_in
        return self.neighbours

    def collaborative(self, tastes: Sequence[Taste], out: np.ndarray | None = None) -> list[
            tuple[Scores | None, bool]]:
        """Each taste's collaborative scores (None: none) and whether they are relative.

        Tastes served by the same scorer share one matrix product. ``out``: a float64
        matrix, one row per taste, to hold the scores.
        """
        result: list[tuple[Scores | None, bool]] = [(None, False)] * len(tastes)
        by_scorer: dict[int, list[int]] = {}
        scorers = [self.collaborative_for(t) for t in tastes]
        for i, scorer in enumerate(scorers):
            by_scorer.setdefault(id(scorer), []).append(i)
        for members in by_scorer.values():
            scorer = scorers[members[0]]
            found = scorer.score_many([tastes[i] for i in members],
                                      None if out is None else [out[i] for i in members])
            for i, scores in zip(members, found, strict=True):
                result[i] = (scores, scorer.relative)
        return result

    def single(self, taste: Taste) -> tuple[Scores | None, bool]:
        """:meth:`collaborative` for one taste (a matrix-vector product)."""
        scorer = self.collaborative_for(taste)
        return scorer.score(taste), scorer.relative


def from_content(scores: Scores, catalogue: Catalogue) -> Scores:
    """``scores`` with the rows whose factors were predicted from content reported as
    "content": same values and shares, only the source differs."""
    if not catalogue.any_predicted:
        return scores
    predicted = catalogue.predicted
    relabelled = copy.copy(scores)
    relabelled.source = "content"
    return Blend(scores, relabelled, np.zeros(0, dtype=np.int64), predicted)


def with_content(collaborative: Scores, relative: bool, best: float, content: ContentScorer,
                 taste: Taste, unrated: np.ndarray, out: np.ndarray | None = None) -> Scores:
    """Collaborative scores with the ``unrated`` rows (no factors) scored on content.

    ``best`` is the best collaborative score that could be served. Relative scores are
    divided by it (into ``out``, by default in place: ``collaborative`` is used up);
    content scores reach at most ``CONTENT_WEIGHT`` of it.
    """
    top = best if best > 0 else 1.0
    if relative:
        target = collaborative.values if out is None else out
        primary, scale = collaborative.rescaled(over=top, out=target), CONTENT_WEIGHT
    else:
        primary = collaborative if out is None else collaborative.rescaled(out=out)
        scale = CONTENT_WEIGHT * top
    primary = from_content(primary, content.catalogue)
    if len(unrated) == 0:
        return primary
    found = content.score(taste, unrated, times=scale)
    assert found is not None  # there is collaborative evidence, so something was liked
    return Blend(primary, found, unrated, ~content.catalogue.has_factors)

"""Ranking scored catalogue rows: the top n, and maximal-marginal-relevance re-ranking.

Both are deterministic: equal scores are ordered by item id, so the same request always
gets the same list.
"""

from __future__ import annotations

import numpy as np

from recommender.catalogue import Catalogue

# Every how many'th allowed score :func:`top_n` samples to bound the k-th best from below.
SAMPLE_EVERY = 16


def top_n(score: np.ndarray, allowed: np.ndarray, k: int, ids: np.ndarray) -> np.ndarray:
    """Rows of the ``k`` best allowed scores, best first, ties by item id (``ids[row]``).

    The k-th best score of every ``SAMPLE_EVERY``'th allowed row is at most the k-th best
    of all of them, so the rows scoring at least that (ties included: deterministic) hold
    the answer; only those few hundred are sorted. Over 87,000 items this is one
    comparison pass instead of a partial selection over all of them (about 0.5 ms).
    """
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    masked = np.where(allowed, score, -np.inf)
    sample = masked[::SAMPLE_EVERY]
    if len(sample) > k:
        threshold = np.partition(sample, len(sample) - k)[len(sample) - k]
        if threshold > -np.inf:
            candidates = np.flatnonzero(masked >= threshold)
            order = np.lexsort((ids[candidates], -score[candidates]))
            return candidates[order][:k]
    return _top_of(np.flatnonzero(allowed), score, k, ids)


def _top_of(candidates: np.ndarray, score: np.ndarray, k: int, ids: np.ndarray) -> np.ndarray:
    """:func:`top_n` over the rows ``candidates`` by a partial selection (few allowed rows)."""
    if len(candidates) > k:
        values = score[candidates]
        threshold = np.partition(values, len(values) - k)[len(values) - k]
        candidates = candidates[values >= threshold]
    order = np.lexsort((ids[candidates], -score[candidates]))
    return candidates[order][:k]


def mmr(pool: np.ndarray, score: np.ndarray, n: int, diversity: float,
        catalogue: Catalogue) -> np.ndarray:
    """Re-rank catalogue rows ``pool`` by maximal marginal relevance.

    Greedily picks the row maximising (1 - diversity)·score - diversity·(highest
    similarity to a row already picked); ``score`` is indexed by catalogue row.
    Similarity is the cosine of the item factors when both items have them, else of
    their genres (TV shows have no factors). Ties go to the earlier row in ``pool``.
    """
    has = catalogue.has_factors[pool]
    factors, genres = catalogue.unit_factors(pool), catalogue.unit_genres[pool]
    relevance = score[pool]
    chosen: list[int] = []
    max_sim = np.zeros(len(pool))
    available = np.ones(len(pool), dtype=bool)
    for _ in range(min(n, len(pool))):
        value = (1 - diversity) * relevance - diversity * max_sim
        value[~available] = -np.inf
        pick = int(np.argmax(value))
        chosen.append(pick)
        available[pick] = False
        sims = np.where(has & has[pick], factors @ factors[pick], genres @ genres[pick])
        max_sim = np.maximum(max_sim, sims)
    return pool[chosen]

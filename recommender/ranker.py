"""Ranking scored catalogue rows: the top n, and maximal-marginal-relevance re-ranking.

Both are deterministic: equal scores are ordered by item id, so the same request always
gets the same list.
"""

from __future__ import annotations

import numpy as np

from recommender.catalogue import Catalogue


def top_n(score: np.ndarray, allowed: np.ndarray, k: int, ids: np.ndarray) -> np.ndarray:
    """Rows of the ``k`` best allowed scores, best first, ties by item id (``ids[row]``).

    A partial selection finds the k-th best score; everything at or above it (ties
    included, so the choice is deterministic) is then fully sorted. That keeps a
    request over 87,000 items at O(items) instead of a full sort.
    """
    candidates = np.flatnonzero(allowed)
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
    factors, genres = catalogue.unit_factors[pool], catalogue.unit_genres[pool]
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

"""Baselines for the new-user protocol: popularity, item-cosine and EASE.

Each is built from a training ``Ratings`` table and answers "top n for someone who
told us these likes" (``Ranker``). They see exactly the data our model trains on, and
their knobs are chosen on validation users like ours (see :mod:`recommender.newuser`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from recommender.preferences import is_like

if TYPE_CHECKING:
    from recommender.evaluate import Ratings

# A ranker maps the liked item ids a user told us (in order) to the ids of the top n.
Ranker = Callable[[np.ndarray, int], list[int]]

# EASE inverts a dense items x items matrix: beyond this many items it does not fit.
EASE_MAX_ITEMS = 20_000


class Interactions:
    """A training table as a sparse users x items 0/1 matrix over compact indexes."""

    def __init__(self, train: Ratings, on: str = "likes") -> None:
        keep = is_like(train.ratings) if on == "likes" else np.ones(len(train), dtype=bool)
        self.item_ids = np.unique(train.items)
        users, user_index = np.unique(train.users[keep], return_inverse=True)
        item_index = np.searchsorted(self.item_ids, train.items[keep])
        self.matrix = sparse.csr_matrix(
            (np.ones(keep.sum(), dtype=np.float32), (user_index, item_index)),
            shape=(len(users), len(self.item_ids)))
        self.matrix.sum_duplicates()
        self.matrix.data[:] = 1.0
        self.counts = np.asarray(self.matrix.sum(axis=0)).ravel()

    def index_of(self, item_ids: np.ndarray) -> np.ndarray:
        """Compact indexes of the ids this table knows (others are dropped)."""
        pos = np.searchsorted(self.item_ids, item_ids)
        pos = np.clip(pos, 0, len(self.item_ids) - 1)
        return pos[self.item_ids[pos] == item_ids]

    def top(self, scores: np.ndarray, told: np.ndarray, n: int) -> list[int]:
        """Ids of the ``n`` best scores, the told items left out, ties by id."""
        scores = scores.astype(np.float64).copy()
        scores[told] = -np.inf
        n = min(n, len(scores))
        # Everything tied with the n-th best is a candidate, so ties go by id, not by chance.
        threshold = np.partition(scores, len(scores) - n)[len(scores) - n]
        best = np.flatnonzero(scores >= threshold)
        best = best[np.lexsort((best, -scores[best]))][:n]
        return self.item_ids[best[np.isfinite(scores[best])]].tolist()


def popularity(train: Ratings, on: str = "likes") -> Ranker:
    """The top chart: items most liked (or most rated) in training."""
    table = Interactions(train, on)
    counts = table.counts.astype(np.float64)

    def rank(told: np.ndarray, n: int) -> list[int]:
        return table.top(counts, table.index_of(told), n)

    return rank


def item_cosine(train: Ratings, on: str = "likes", neighbours: int = 0) -> Ranker:
    """Sum of cosine similarities to the told items (binary item vectors).

    ``neighbours`` > 0 keeps only each told item's that many most similar items.
    """
    table = Interactions(train, on)
    by_item = table.matrix.T.tocsr()
    norms = np.sqrt(np.maximum(table.counts, 1.0))

    def rank(told: np.ndarray, n: int) -> list[int]:
        rows = table.index_of(told)
        if len(rows) == 0:
            return table.top(table.counts.astype(np.float64), rows, n)
        co = (by_item[rows] @ table.matrix).toarray()  # co-occurrence with every item
        sims = co / norms[rows, None] / norms[None, :]
        sims[np.arange(len(rows)), rows] = 0.0
        if neighbours:
            cut = np.partition(sims, -neighbours, axis=1)[:, -neighbours][:, None]
            sims = np.where(sims >= cut, sims, 0.0)
        return table.top(sims.sum(axis=0), rows, n)

    return rank


def ease(train: Ratings, on: str = "likes", lam: float = 1000.0) -> Ranker | None:
    """EASE (Steck 2019): a closed-form item-item model; None when it does not fit."""
    table = Interactions(train, on)
    if len(table.item_ids) > EASE_MAX_ITEMS:
        return None
    gram = (table.matrix.T @ table.matrix).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    del gram, inverse

    def rank(told: np.ndarray, n: int) -> list[int]:
        rows = table.index_of(told)
        if len(rows) == 0:
            return table.top(table.counts.astype(np.float64), rows, n)
        return table.top(weights[rows].sum(axis=0), rows, n)

    return rank


# name -> (builder, grid of keyword arguments tried on validation)
BASELINES: dict[str, tuple[Callable[..., Ranker | None], Sequence[dict]]] = {
    "popularity": (popularity, [{"on": "likes"}, {"on": "ratings"}]),
    "item-cosine": (item_cosine, [{"on": on, "neighbours": k} for on in ("likes", "ratings")
                                  for k in (0, 50, 200)]),
    "ease": (ease, [{"on": on, "lam": lam} for on in ("likes", "ratings")
                    for lam in (100.0, 300.0, 1000.0, 3000.0, 10000.0)]),
}

"""Item-item neighbours from who liked what, computed by Spark at training time.

Beside the ALS factors, training publishes each item's ``NEIGHBOURS`` most similar
items by the cosine of their like vectors: cos(i, j) = |both liked| / sqrt(|liked i| ·
|liked j|). Serving blends them with the factor neighbourhood
(``ServingConfig.cooccurrence_weight``): factors generalise across the catalogue, these
keep the specific links a rank-16 factor space blurs (Star Wars → The Empire Strikes
Back). A user with many likes makes a quadratic number of pairs, so each user
contributes at most ``USER_CAP`` likes (a fixed hash of the item picks which).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

NEIGHBOURS = 200
USER_CAP = 300


@dataclass(frozen=True)
class Neighbours:
    """Sparse rows: item ``item_ids[r]``'s neighbours are ``ids[indptr[r]:indptr[r+1]]``
    with similarities ``sims[...]``, most similar first."""

    item_ids: np.ndarray  # int64, sorted
    indptr: np.ndarray  # int64, len(item_ids) + 1
    ids: np.ndarray  # int32 (int64 if an id needs it)
    sims: np.ndarray  # float32 (float16 as read for serving)
    # The arrays belong to this object alone (read from disk for one model), so
    # :meth:`LinkRows.of` may reuse them in place rather than hold two copies while the
    # bot loads ML-32M's 17 million neighbours.
    scratch: bool = field(default=False, compare=False)

    @classmethod
    def from_triples(cls, item: np.ndarray, neighbour: np.ndarray, sim: np.ndarray,
                     item_ids: np.ndarray) -> Neighbours:
        """Rows for ``item_ids`` from (item, neighbour, similarity) triples."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        keep = np.isin(item, item_ids) & np.isin(neighbour, item_ids)
        item, neighbour, sim = item[keep], neighbour[keep], sim[keep]
        order = np.lexsort((neighbour, -sim, item))
        item, neighbour, sim = item[order], neighbour[order], sim[order]
        # A pair given twice keeps its highest similarity (Spark never repeats one).
        _, first = np.unique(np.stack([item, neighbour], axis=1), axis=0, return_index=True)
        keep = np.sort(first)
        item, neighbour, sim = item[keep], neighbour[keep], sim[keep]
        counts = np.bincount(np.searchsorted(item_ids, item), minlength=len(item_ids))
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        # Item ids fit in 32 bits (TV shows start at 100,000,000): half the memory of the
        # ~17 million neighbours of ML-32M, in the artifact and while the bot loads it.
        small = len(neighbour) == 0 or int(neighbour.max()) < 2**31
        return cls(item_ids, indptr, neighbour.astype(np.int32 if small else np.int64),
                   sim.astype(np.float32))

    def validate(self) -> str | None:
        """Why these arrays cannot be served, or None when they can."""
        n = len(self.item_ids)
        if self.indptr.shape != (n + 1,) or self.indptr[0] != 0 \
                or np.any(np.diff(self.indptr) < 0) or self.indptr[-1] != len(self.ids):
            return "neighbour offsets are inconsistent"
        if self.sims.shape != self.ids.shape or not np.isfinite(self.sims).all():
            return "neighbour similarities are missing or not finite"
        if not self._ids_known():
            return "a neighbour is not an item of the model"
        return None

    def _ids_known(self, block: int = 1 << 20) -> bool:
        """Every neighbour id is one of ``item_ids`` (sorted), checked a block at a time:
        ``np.isin`` over ML-32M's 17 million ids took ~150 MB of temporary memory."""
        if len(self.item_ids) == 0:
            return len(self.ids) == 0
        for first in range(0, len(self.ids), block):
            ids = self.ids[first:first + block]
            at = np.minimum(np.searchsorted(self.item_ids, ids), len(self.item_ids) - 1)
            if not np.array_equal(self.item_ids[at], ids):
                return False
        return True


class LinkRows:
    """The like cosines over catalogue rows, in the two shapes serving asks for.

    Plain numpy CSR (columns sorted within each row): a request sums a few rows into a
    dense vector and reads a few entries for ``because``; a general sparse library costs
    more per call than the work itself at this size.
    """

    def __init__(self, indptr: np.ndarray, columns: np.ndarray, values: np.ndarray,
                 size: int) -> None:
        self.indptr, self.columns, self.values, self.size = indptr, columns, values, size

    @classmethod
    def of(cls, found: Neighbours, row_ids: np.ndarray, block: int = 4096) -> LinkRows:
        """``found`` re-indexed by the rows of the sorted ids ``row_ids``.

        Both are sorted by item id, so ``found``'s entries already come in row order and
        only each row's entries are re-sorted, ``block`` rows at a time: at ML-32M scale
        (17 million entries) sorting them all at once cost the bot ~400 MB of temporary
        peak memory on loading a model. A ``scratch`` ``found`` is overwritten in place.
        Similarities are kept as float16: cosines in [0, 1] to three significant digits,
        half the memory of the largest array the bot holds.
        """
        counts = np.zeros(len(row_ids), dtype=np.int64)
        counts[np.searchsorted(row_ids, found.item_ids)] = np.diff(found.indptr)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        columns = _output(found.ids, np.int32, found.scratch)
        values = _output(found.sims, np.float16, found.scratch)
        for first in range(0, len(found.item_ids), block):
            bounds = found.indptr[first:first + block + 1]
            lo, hi = int(bounds[0]), int(bounds[-1])
            cols = np.searchsorted(row_ids, found.ids[lo:hi]).astype(np.int32)
            owner = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
            order = np.lexsort((cols, owner))
            columns[lo:hi] = cols[order]
            values[lo:hi] = found.sims[lo:hi][order]
        return cls(indptr, columns, values, len(row_ids))

    def _entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the given rows' entries, and which of ``rows`` each belongs to."""
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        total = int(lengths.sum())
        before = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        positions = np.repeat(starts - before, lengths) + np.arange(total)
        return positions, np.repeat(np.arange(len(rows)), lengths)

    def weighted_sum(self, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Σ_k weights[k]·(row rows[k]) as a dense vector over every row."""
        positions, owner = self._entries(rows)
        # float64 even for rows without entries: bincount of nothing ignores the weights
        # and answers in int64.
        return np.bincount(self.columns[positions],
                           weights=self.values[positions] * weights[owner],
                           minlength=self.size).astype(np.float64, copy=False)

    def block(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """The dense ``len(rows)`` x ``len(columns)`` block (absent entries are 0)."""
        out = np.zeros(len(rows) * len(columns))
        positions, owner = self._entries(rows)
        if len(positions):
            # Entries are sorted by (row, column), so their keys are sorted: one search.
            keys = owner * self.size + self.columns[positions]
            wanted = (np.arange(len(rows))[:, None] * self.size + columns[None, :]).ravel()
            at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
            hit = keys[at] == wanted
            out[hit] = self.values[positions[at[hit]]]
        return out.reshape(len(rows), len(columns))


def _output(source: np.ndarray, dtype: type, reuse: bool) -> np.ndarray:
    """Where :meth:`LinkRows.of` writes: ``source`` itself when it may be reused and
    already has ``dtype``, else a new array of ``source``'s length."""
    if reuse and source.dtype == dtype:
        return source
    return np.empty(len(source), dtype=dtype)


def like_cosine(likes: DataFrame, k: int = NEIGHBOURS, user_cap: int = USER_CAP
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each item's ``k`` nearest items by like cosine, as (item, neighbour, sim) arrays.

    ``likes``: a frame of distinct (user_id, item_id) pairs, one per like. Spark caps each
    user's likes; the pairs are counted by :func:`top_cosines` on the driver, since a
    Spark self-join makes every co-liked pair a row (~2 billion at ML-32M: the slowest
    step of training there), where a sparse product only adds them up.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    by_user = Window.partitionBy("user_id").orderBy(F.xxhash64("item_id"), "item_id")
    capped = (likes.withColumn("n", F.row_number().over(by_user))
              .where(F.col("n") <= user_cap).select("user_id", "item_id"))
    table = capped.toArrow()
    return top_cosines(table.column("user_id").to_numpy(), table.column("item_id").to_numpy(),
                       k)


def top_cosines(users: np.ndarray, items: np.ndarray, k: int = NEIGHBOURS,
                block: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` highest like cosines of each item from distinct (user, item) likes.

    cos(i, j) = both / sqrt(likes_i * likes_j) over pairs liked together at least once,
    i != j; ties go to the lower neighbour id (as Spark ordered them). Rows of the item x
    item co-count matrix are made ``block`` at a time (sparse), so memory stays bounded.
    """
    from scipy import sparse

    item_ids, col = _codes(items)
    _, row = _codes(users)
    n_items = len(item_ids)
    liked = sparse.csr_matrix((np.ones(len(col), np.float32), (row, col)),
                              shape=(int(row.max(initial=-1)) + 1, n_items))
    by_item = liked.T.tocsr()
    counts = np.bincount(col, minlength=n_items).astype(np.float64)
    parts = [_block_top(by_item[start:start + block] @ liked, start, counts, k)
             for start in range(0, n_items, block)]
    if not parts:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float32)
    i, j, s = (np.concatenate(p) for p in zip(*parts, strict=True))
    return item_ids[i], item_ids[j], s


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each value's index among them (a sort, which numpy's
    hash-based ``unique(return_inverse=True)`` was ~50x slower than here)."""
    values = np.asarray(values, dtype=np.int64)
    ordered = np.sort(values)
    distinct = ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])] \
        if len(ordered) else ordered
    return distinct, np.searchsorted(distinct, values)


def _block_top(both, start: int, counts: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``k`` per row of one block of co-counts (rows ``start``.. of the item matrix)."""
    both = both.tocsr()
    i_parts, j_parts, s_parts = [], [], []
    for r in range(both.shape[0]):
        lo, hi = both.indptr[r], both.indptr[r + 1]
        j, s = _row_top(start + r, both.indices[lo:hi], both.data[lo:hi], counts, k)
        i_parts.append(np.full(len(j), start + r, dtype=np.int64))
        j_parts.append(j)
        s_parts.append(s)
    return (np.concatenate(i_parts), np.concatenate(j_parts).astype(np.int64),
            np.concatenate(s_parts).astype(np.float32))


def _row_top(i: int, j: np.ndarray, both: np.ndarray, counts: np.ndarray,
             k: int) -> tuple[np.ndarray, np.ndarray]:
    """Item ``i``'s top ``k`` (neighbour columns, cosines) of its co-liked columns ``j``."""
    keep = j != i
    j, both = j[keep], both[keep]
    # The same double-precision expression as Spark's (both / sqrt(li * lj)), so ties
    # and their order are the same.
    sims = both.astype(np.float64) / np.sqrt(counts[i] * counts[j])
    if len(sims) > k:
        cut = np.partition(sims, len(sims) - k)[len(sims) - k]
        keep = sims >= cut
        j, sims = j[keep], sims[keep]
    order = np.lexsort((j, -sims))[:k]
    return j[order], sims[order]

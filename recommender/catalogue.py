"""The catalogue: every item the bot can show, its metadata, its factors and the filters.

Items come from two sources: the ones ALS trained on (factors, popularity, mean rating)
and the metadata file (titles, years, genres, IMDb data, TV shows nobody rated). Every
array here is indexed by catalogue *row*; rows are sorted by item id, so ties broken by
row are broken by id too. Built once per model; nothing here changes per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from recommender.content import ContentFactors
from recommender.neighbours import LinkRows, Neighbours

# Cold start: items are ranked by a damped mean rating, the mean pulled towards the
# global mean by this many pseudo-ratings, so a film needs many good ratings to lead.
PRIOR_RATINGS = 50
# Same idea for items MovieLens never rated (IMDb TV shows): damped IMDb rating.
PRIOR_IMDB_VOTES = 25_000


@dataclass(frozen=True)
class Taste:
    """What one person told us, reduced to what this catalogue knows (each id once)."""

    likes: tuple[int, ...]
    dislikes: tuple[int, ...]
    like_rows: np.ndarray
    dislike_rows: np.ndarray
    neutral: tuple[int, ...] = ()  # rated between like and dislike: weak interest
    neutral_rows: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))


def _imdb_id(value: object) -> str | None:
    """An IMDb title id ("tt0133093"), or None for anything else: it goes into links."""
    text = str(value or "")
    return text if text.startswith("tt") and text[2:].isdigit() else None


class RowIndex:
    """Item id -> catalogue row, by binary search over the sorted ids: as a dict, the
    87,000 rows of ML-32M cost the bot 10 MB."""

    def __init__(self, ids: np.ndarray) -> None:
        self._ids = ids

    def get(self, item_id: int, default: int | None = None) -> int | None:
        at = int(np.searchsorted(self._ids, item_id))
        return at if at < len(self._ids) and self._ids[at] == item_id else default

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, int | np.integer) and self.get(int(item_id)) is not None

    def __getitem__(self, item_id: int) -> int:
        found = self.get(item_id)
        if found is None:
            raise KeyError(item_id)
        return found

    def rows(self, item_ids: np.ndarray) -> np.ndarray:
        """Rows of ``item_ids`` (int64), -1 where an id is unknown."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._ids, item_ids), max(len(self._ids) - 1, 0))
        found = (self._ids[at] == item_ids) if len(self._ids) else np.zeros(len(item_ids), bool)
        return np.where(found, at, -1)


class Catalogue:
    """Item ids, metadata and factors as row-aligned arrays, plus lookups and filters."""

    def __init__(self, item_ids: np.ndarray, item_factors: np.ndarray,
                 popularity: np.ndarray, mean_rating: np.ndarray,
                 items: Iterable[dict],
                 neighbours: Neighbours | Callable[[], Neighbours | None] | None = None,
                 content: ContentFactors | None = None) -> None:
        """``items`` is read once (an iterator lets go of each dict once it is described);
        ``neighbours`` may be a function that reads them, called last."""
        meta = {int(m["item_id"]): m for m in items}
        for item_id in item_ids.tolist():
            meta.setdefault(int(item_id), {"item_id": int(item_id), "title": str(item_id)})
        self.ids = np.array(sorted(meta), dtype=np.int64)
        self.row = RowIndex(self.ids)
        rows = [meta.pop(int(i)) for i in self.ids]
        self._describe(rows)
        del rows, meta  # before the neighbours are read: the peak memory of loading
        self._place_factors(item_ids, item_factors, popularity, mean_rating)
        self._place_predicted(content)
        self._index_genres()
        self.quality = self._quality()
        self.like_neighbours = self._place_neighbours(neighbours)

    def __len__(self) -> int:
        return len(self.ids)

    # ----- building ------------------------------------------------------------------

    def _describe(self, rows: list[dict]) -> None:
        def number(m: dict, key: str) -> float:
            return np.nan if m.get(key) is None else m[key]

        self.titles = [str(m.get("title") or m["item_id"]) for m in rows]
        self.years = np.array([number(m, "year") for m in rows], dtype=np.float64)
        self.kinds = np.array([m.get("kind") or "movie" for m in rows])
        self.genre_lists = [tuple(m.get("genres") or ()) for m in rows]
        self.alt_titles = [tuple(m.get("alt_titles") or ()) for m in rows]
        self.imdb_ids = [_imdb_id(m.get("imdb_id")) for m in rows]
        self.imdb_rating = np.array([number(m, "imdb_rating") for m in rows], dtype=np.float64)
        self.imdb_votes = np.array([m.get("imdb_votes") or 0 for m in rows], dtype=np.float64)

    def _place_factors(self, item_ids: np.ndarray, item_factors: np.ndarray,
                       popularity: np.ndarray, mean_rating: np.ndarray) -> None:
        # Items without factors keep a zero vector, so one matrix product scores every
        # row and theirs come out 0; ``has_factors`` tells them apart.
        n, rank = len(self.ids), item_factors.shape[1]
        self.factors = np.zeros((n, rank), dtype=np.float32)
        self.has_factors = np.zeros(n, dtype=bool)
        self.popularity = np.zeros(n, dtype=np.float64)
        self.mean_rating = np.full(n, np.nan)
        where = self.row.rows(item_ids)
        self.factors[where] = item_factors
        self.has_factors[where] = True
        self.popularity[where] = popularity
        self.mean_rating[where] = mean_rating
        self.trained = self.has_factors.copy()
        self.predicted = np.zeros(n, dtype=bool)

    def _place_predicted(self, content: ContentFactors | None) -> None:
        """Content-predicted factors (recommender/content.py) for rows without trained
        ones: they then count as having factors, and ``predicted`` marks them so their
        picks can say they come from content."""
        if content is not None and len(content.item_ids):
            rows = self.row.rows(content.item_ids)
            ok = rows >= 0
            ok[ok] = ~self.trained[rows[ok]]  # a trained factor always wins
            self.factors[rows[ok]] = content.factors[ok]
            self.predicted[rows[ok]] = True
            self.has_factors = self.trained | self.predicted
        # Per model, not per request: the rows a request may have to score on content.
        self.unfactored = np.flatnonzero(~self.has_factors)
        self.any_predicted = bool(self.predicted.any())
        norms = np.linalg.norm(self.factors, axis=1)
        self.factor_norms = np.where(norms > 0, norms, 1).astype(np.float32)

    def _place_neighbours(self, found: Neighbours | Callable[[], Neighbours | None] | None
                          ) -> LinkRows | None:
        """The published like cosines by catalogue row (None: none)."""
        if callable(found):
            found = found()
        if found is None or len(found.ids) == 0:
            return None
        return LinkRows.of(found, self.ids)

    def _index_genres(self) -> None:
        self.genre_names = sorted({g for gs in self.genre_lists for g in gs})
        genre_index = {g: j for j, g in enumerate(self.genre_names)}
        self.genre_matrix = np.zeros((len(self.ids), len(self.genre_names)), dtype=bool)
        for r, gs in enumerate(self.genre_lists):
            for g in gs:
                self.genre_matrix[r, genre_index[g]] = True
        gnorm = np.sqrt(self.genre_matrix.sum(axis=1, dtype=np.float32))
        self.unit_genres = self.genre_matrix / np.where(gnorm > 0, gnorm, 1)[:, None]
        self._lower_genre = {g.lower(): j for j, g in enumerate(self.genre_names)}

    def _quality(self) -> np.ndarray:
        """Damped mean rating on a 0-5 scale: MovieLens where rated, else IMDb."""
        rated = self.popularity > 0
        global_mean = (np.nansum(self.mean_rating[rated] * self.popularity[rated])
                       / self.popularity[rated].sum()) if rated.any() else 3.5
        ml = (np.nan_to_num(self.mean_rating) * self.popularity + PRIOR_RATINGS * global_mean) \
            / (self.popularity + PRIOR_RATINGS)
        imdb = np.nan_to_num(self.imdb_rating, nan=2 * global_mean) / 2
        imdb = (imdb * self.imdb_votes + PRIOR_IMDB_VOTES * global_mean) \
            / (self.imdb_votes + PRIOR_IMDB_VOTES)
        return np.where(rated, ml, imdb)

    # ----- lookups -------------------------------------------------------------------

    def unit_factors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The factors of ``rows`` (every row when None) scaled to length 1 (0 stays 0).
        Computed when asked: kept, they would be another copy of the factors."""
        if rows is None:
            return self.factors / self.factor_norms[:, None]
        return self.factors[rows] / self.factor_norms[rows][:, None]

    def _known_rows(self, item_ids: Iterable[int]) -> tuple[list[int], np.ndarray]:
        """The ids this catalogue knows, each once, in the order given, and their rows
        (one binary search for all of them)."""
        ids = list(dict.fromkeys(map(int, item_ids)))
        rows = self.row.rows(np.array(ids, dtype=np.int64))
        known = rows >= 0
        return [i for i, ok in zip(ids, known.tolist(), strict=True) if ok], rows[known]

    def known(self, item_ids: Iterable[int]) -> list[int]:
        """The ids this catalogue knows, each once, in the order given."""
        return self._known_rows(item_ids)[0]

    def rows_of(self, item_ids: Iterable[int]) -> np.ndarray:
        """Catalogue rows of the given ids that exist (unknown ids are skipped)."""
        rows = self.row.rows(np.fromiter(map(int, item_ids), dtype=np.int64))
        return rows[rows >= 0]

    def taste(self, likes: Iterable[int], dislikes: Iterable[int] = (),
              neutral: Iterable[int] = ()) -> Taste:
        """Someone's likes, dislikes and neutral ratings, unknown ids dropped, each id once."""
        (liked, like_rows), (disliked, dislike_rows), (neutrals, neutral_rows) = (
            self._known_rows(ids) for ids in (likes, dislikes, neutral))
        return Taste(tuple(liked), tuple(disliked), like_rows, dislike_rows, tuple(neutrals),
                     neutral_rows)

    def titles_of(self, item_ids: Iterable[int]) -> list[str]:
        """Titles of the given ids (the id itself for an id this catalogue lacks)."""
        return [self.titles[self.row[i]] if i in self.row else str(i)
                for i in map(int, item_ids)]

    # ----- filters -------------------------------------------------------------------

    def unrated(self, allowed: np.ndarray) -> np.ndarray:
        """The allowed rows without factors (scored on content), in row order."""
        return self.unfactored[allowed[self.unfactored]]

    def allowed(self, kind: str | None = None, genres: Sequence[str] = (),
                years: tuple[int, int] | None = None,
                min_imdb_rating: float | None = None) -> np.ndarray:
        """Rows passing every filter, exactly: ``kind``, all ``genres`` (any case),
        ``years`` inclusive, ``min_imdb_rating`` (items without a rating fail it)."""
        allowed = np.ones(len(self.ids), dtype=bool)
        if kind is not None:
            allowed &= self.kinds == kind
        for genre in genres:
            column = self._lower_genre.get(str(genre).lower())
            if column is None:  # a genre nothing has: nothing passes
                return np.zeros(len(self.ids), dtype=bool)
            allowed &= self.genre_matrix[:, column]
        # NaN years and ratings compare False: unknown values fail the filter.
        with np.errstate(invalid="ignore"):
            if years is not None:
                allowed &= (self.years >= years[0]) & (self.years <= years[1])
            if min_imdb_rating is not None:
                allowed &= self.imdb_rating >= min_imdb_rating
        return allowed

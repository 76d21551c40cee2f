"""Serving: recommendations for anyone, in microseconds, from a published artifact.

numpy only (no Spark, no Java). A user the model has never seen is *folded in*: their
vector is the solution of the same regularised normal equations Spark's implicit
ALS solves for a user, given the trained item factors Y:

    A = YᵀY + Σ_i c_i·y_i·y_iᵀ + regParam·n⁺·I,   b = Σ_{r_i > 0} (1 + c_i)·y_i,   A x = b

with c_i = alpha·|r_i| and n⁺ the number of positive entries (Spark scales regParam
by it). YᵀY is computed once per model. Because the score of item j is linear in b,
it splits exactly into one share per liked item, which is what ``because`` reports.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import numpy as np

from recommender import artifacts
from recommender.errors import ModelError
from recommender.preferences import strength

# Cold start: items are ranked by a damped mean rating, the mean pulled towards the
# global mean by this many pseudo-ratings, so a film needs many good ratings to lead.
PRIOR_RATINGS = 50
# Same idea for items MovieLens never rated (IMDb TV shows): damped IMDb rating.
PRIOR_IMDB_VOTES = 25_000
# An item without factors can reach at most this share of the best collaborative score.
CONTENT_WEIGHT = 0.9
# Group recommendation (movie night), see Recommender.recommend_group: the weight of the
# least happy member's score in the group score, and how close to the happiest member's
# score another member's must be to be named in ``for_whom`` too.
MISERY_WEIGHT = 0.25
FOR_WHOM_MARGIN = 0.05
# At most this many liked titles explain a group pick.
GROUP_BECAUSE = 3


@dataclass(frozen=True)
class Recommendation:
    item_id: int
    title: str
    year: int | None
    kind: str
    score: float
    because: tuple[str, ...]
    source: str  # "collaborative", "content" or "popular"
    genres: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupPick:
    """One pick for a group: the item with its group score, and whom it suits best."""

    item: Recommendation  # score: the group score; because: liked titles behind it
    for_whom: tuple[int, ...]  # indexes into ``members`` of those it suits best (1+)
    member_scores: tuple[float, ...]  # each member's normalised score (0..1), member order


class Recommender:
    """An ALS model ready to serve. Build with :meth:`load` (or :meth:`from_arrays`)."""

    def __init__(self, *, item_ids: np.ndarray, item_factors: np.ndarray,
                 popularity: np.ndarray, mean_rating: np.ndarray, items: Sequence[dict],
                 params: dict, version: str = "in-memory", meta: dict | None = None) -> None:
        self.version = version
        self.meta = dict(meta or {})  # model.json: trained_at, counts, metrics
        self.params = dict(params)
        self.alpha = float(params.get("alpha", 1.0))
        self.reg_param = float(params.get("reg_param", 0.1))
        self.scheme = str(params.get("scheme", "raw"))
        self.like_strength = float(strength(self.scheme, np.array([5.0]))[0])

        # The catalogue: every item we can show, with or without factors.
        meta = {int(m["item_id"]): m for m in items}
        for item_id in item_ids.tolist():
            meta.setdefault(int(item_id), {"item_id": int(item_id), "title": str(item_id)})
        self.ids = np.array(sorted(meta), dtype=np.int64)
        self.row = {int(i): r for r, i in enumerate(self.ids)}
        rows = [meta[int(i)] for i in self.ids]
        n, rank = len(self.ids), item_factors.shape[1]
        self.titles = [str(m.get("title") or m["item_id"]) for m in rows]
        self.years = np.array([m.get("year") if m.get("year") is not None else np.nan
                               for m in rows], dtype=np.float64)
        self.kinds = np.array([m.get("kind") or "movie" for m in rows])
        self.genre_lists = [tuple(m.get("genres") or ()) for m in rows]
        self.alt_titles = [tuple(m.get("alt_titles") or ()) for m in rows]
        self.imdb_rating = np.array([m.get("imdb_rating") if m.get("imdb_rating") is not None
                                     else np.nan for m in rows], dtype=np.float64)
        self.imdb_votes = np.array([m.get("imdb_votes") or 0 for m in rows], dtype=np.float64)

        self.factors = np.zeros((n, rank), dtype=np.float32)
        self.has_factors = np.zeros(n, dtype=bool)
        self.popularity = np.zeros(n, dtype=np.float64)
        self.mean_rating = np.full(n, np.nan)
        where = np.array([self.row[int(i)] for i in item_ids], dtype=np.int64)
        self.factors[where] = item_factors
        self.has_factors[where] = True
        self.popularity[where] = popularity
        self.mean_rating[where] = mean_rating

        y = self.factors[self.has_factors].astype(np.float64)
        self.yty = y.T @ y  # once per model: the fold-in's shared term
        norms = np.linalg.norm(self.factors, axis=1)
        self.unit_factors = self.factors / np.where(norms > 0, norms, 1)[:, None]

        self.genre_names = sorted({g for gs in self.genre_lists for g in gs})
        genre_index = {g: j for j, g in enumerate(self.genre_names)}
        self.genre_matrix = np.zeros((n, len(self.genre_names)), dtype=np.float32)
        for r, gs in enumerate(self.genre_lists):
            for g in gs:
                self.genre_matrix[r, genre_index[g]] = 1.0
        gnorm = np.linalg.norm(self.genre_matrix, axis=1)
        self.unit_genres = self.genre_matrix / np.where(gnorm > 0, gnorm, 1)[:, None]
        self.quality = self._quality()
        self._lower_genre = {g.lower(): g for g in self.genre_names}

    # ----- loading -------------------------------------------------------------------

    @classmethod
    def load(cls, model_dir: str | os.PathLike | None = None) -> Recommender:
        """Load ``model_dir`` (default ``$MODELS_DIR/current``), refusing broken artifacts."""
        if model_dir is None:
            from recommender.settings import Settings

            models = Settings.from_env().models_dir
            found = artifacts.current_dir(models)
            if found is None:
                raise ModelError(f"No model in {models}; run 'python -m recommender train'.")
            model_dir = found
        return cls(**artifacts.read_artifact(Path(model_dir)))

    @classmethod
    def from_arrays(cls, item_ids: np.ndarray, item_factors: np.ndarray, params: dict,
                    items: Sequence[dict] = (), popularity: np.ndarray | None = None,
                    mean_rating: np.ndarray | None = None) -> Recommender:
        """A model straight from training output (evaluation uses this)."""
        n = len(item_ids)
        return cls(item_ids=np.asarray(item_ids, dtype=np.int64),
                   item_factors=np.asarray(item_factors, dtype=np.float32),
                   popularity=np.zeros(n) if popularity is None else popularity,
                   mean_rating=np.full(n, np.nan) if mean_rating is None else mean_rating,
                   items=items, params=params)

    # ----- the math -----------------------------------------------------------------

    def _known(self, item_ids: Iterable[int]) -> list[int]:
        """The ids this model knows, each once, in the order given."""
        return [i for i in dict.fromkeys(map(int, item_ids)) if i in self.row]

    def rows_of(self, item_ids: Iterable[int]) -> np.ndarray:
        """Catalogue rows of the given ids that exist (unknown ids are skipped)."""
        return np.array([self.row[i] for i in map(int, item_ids) if i in self.row],
                        dtype=np.int64)

    def _system(self, rows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
        keep = self.has_factors[rows] & (values != 0)
        rows, values = rows[keep], values[keep]
        y = self.factors[rows].astype(np.float64)
        c = self.alpha * np.abs(values)
        positive = values > 0
        a = self.yty + (y.T * c) @ y
        a[np.diag_indices_from(a)] += self.reg_param * positive.sum()
        weights = np.where(positive, 1.0 + c, 0.0)
        return a, weights, rows

    def _solve(self, item_ids: Sequence[int], values: Sequence[float]) -> tuple[
            np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The user vector x with the system behind it: (x, A, weights, rows)."""
        rows = np.array([self.row.get(int(i), -1) for i in item_ids], dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        known = rows >= 0
        a, weights, rows = self._system(rows[known], values[known])
        if not (weights > 0).any():
            return np.zeros(self.factors.shape[1]), a, weights, rows
        b = self.factors[rows].astype(np.float64).T @ weights
        return np.linalg.solve(a, b), a, weights, rows

    def fold_in(self, item_ids: Sequence[int], values: Sequence[float]) -> np.ndarray:
        """The user vector for preference strengths ``values`` (as Spark would train it).

        ``values`` are already-transformed strengths (see :mod:`recommender.preferences`):
        positive means "likes", negative "confidently not". Items without factors and
        unknown ids are ignored. Returns zeros when there is no positive evidence.
        """
        return self._solve(item_ids, values)[0]

    def _likes_system(self, likes: Sequence[int], dislikes: Sequence[int]):
        ids = list(likes) + list(dislikes)
        values = [self.like_strength] * len(likes) + [-abs(self.like_strength)] * len(dislikes)
        return self._solve(ids, values)

    def user_vector_for(self, likes: Sequence[int], dislikes: Sequence[int] = ()) -> np.ndarray:
        """The folded-in vector of someone who liked ``likes`` and disliked ``dislikes``."""
        return self._likes_system(likes, dislikes)[0]

    def scores(self, user_vector: np.ndarray) -> np.ndarray:
        """Collaborative scores of every catalogue item (items without factors score 0)."""
        return self.factors @ user_vector.astype(np.float32)

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

    def _content_scores(self, like_rows: np.ndarray,
                        rows: np.ndarray | None = None) -> np.ndarray:
        """Genre and era affinity with the liked items, times quality (0..1).

        For ``rows`` only (all catalogue rows when None).
        """
        rows = np.arange(len(self.ids)) if rows is None else rows
        if len(like_rows) == 0:
            return np.zeros(len(rows))
        profile = self.unit_genres[like_rows].sum(axis=0)
        norm = np.linalg.norm(profile)
        genre = self.unit_genres[rows] @ (profile / norm) if norm > 0 else np.zeros(len(rows))
        liked_years = self.years[like_rows]
        if np.isfinite(liked_years).any():
            era = np.exp(-np.abs(self.years[rows] - np.nanmean(liked_years)) / 15.0)
            era = np.nan_to_num(era, nan=0.5)
        else:
            era = np.ones(len(rows))
        return genre * era * (self.quality[rows] / 5.0)

    # ----- the API the bot uses -----------------------------------------------------

    def recommend(self, likes: Sequence[int], dislikes: Sequence[int] = (), n: int = 10,
                  exclude: Iterable[int] = (), kind: str | None = None,
                  genres: Sequence[str] = (), years: tuple[int, int] | None = None,
                  min_imdb_rating: float | None = None, *,
                  diversity: float = 0.0) -> list[Recommendation]:
        """Top ``n`` items for someone who liked ``likes`` and disliked ``dislikes``.

        Filters are exact: ``kind`` ("movie"/"tv"), every genre in ``genres``,
        ``years`` inclusive, ``min_imdb_rating`` (items without one are dropped).
        Liked, disliked and excluded items never come back. ``diversity`` in [0, 1]
        re-ranks with maximal marginal relevance (0: off).
        """
        if n <= 0:
            return []
        likes, dislikes = self._known(likes), self._known(dislikes)
        like_rows = self.rows_of(likes)
        system = self._likes_system(likes, dislikes)
        x = system[0]
        collaborative = bool(np.any(x))
        allowed = self._allowed(kind, genres, years, min_imdb_rating)
        allowed[like_rows] = False
        allowed[self.rows_of(dislikes)] = False
        allowed[self.rows_of(exclude)] = False

        if collaborative:
            score = self.scores(x).astype(np.float64)
            top = score[allowed & self.has_factors].max(initial=0.0)
            score /= top if top > 0 else 1.0
            # Items without factors (unrated TV shows) are scored on content instead.
            unrated = np.flatnonzero(allowed & ~self.has_factors)
            if len(unrated):
                score[unrated] = CONTENT_WEIGHT * self._content_scores(like_rows, unrated)
            mode = "collaborative"
        elif len(like_rows):
            # Only items without factors were liked (new TV shows): genres and era.
            score, mode = self._content_scores(like_rows), "content"
        else:
            # Nobody to fold in: popular, well-rated items (the damped mean rating).
            score, mode = self.quality / 5.0, "popular"
        pool = self._top(score, allowed, max(10 * n, 50) if diversity > 0 else n)
        chosen = self.mmr(pool, score, n, diversity) if diversity > 0 else pool
        because = self._because(chosen, like_rows, system)
        return [self._result(r, float(score[r]), because.get(int(r), ()),
                             "content" if mode == "collaborative" and not self.has_factors[r]
                             else mode)
                for r in chosen]

    def recommend_group(self, members: Sequence[tuple[Sequence[int], Sequence[int]]],
                        n: int = 5, exclude: Iterable[int] = (), kind: str | None = None,
                        genres: Sequence[str] = ()) -> list[GroupPick]:
        """Top ``n`` items for a group to watch together ("movie night").

        ``members[i]`` is member i's (likes, dislikes). Nothing any member liked or
        disliked comes back, nor anything in ``exclude`` (pass the union of the members'
        seen, rated, not-interested and watchlist items). ``kind`` and ``genres`` filter
        as in :meth:`recommend`. Raises ``ValueError`` for an empty group: there is nobody
        to name in ``for_whom``, and the caller should ask people to join first.

        Aggregation. Each member is scored as :meth:`recommend` would score them alone
        (collaborative fold-in; items without factors, i.e. unrated TV shows, on content
        at up to ``CONTENT_WEIGHT``; content only if they liked only such items), then
        normalised by their own best score among the items nobody excluded and clipped to
        [0, 1]: 1 is "their best pick here", 0 is "nothing for them" (negative ALS scores
        mean "less than an unrelated film", not reliably "hates it", so they are not told
        apart from 0). The best is taken before the ``kind`` and ``genres`` filters, so a
        filter cannot make a film someone barely likes their 1.0 (and "for" them).
        Normalising stops a member whose fold-in scores run high (many or very typical
        likes) from outvoting the rest. The group score is the average with a
        least-misery guard:

            group = (1 - MISERY_WEIGHT) * mean(member scores) + MISERY_WEIGHT * min(...)

        The average maximises total satisfaction and is among the best strategies in group
        studies (Masthoff 2004; Baltrunas et al. 2010), but alone it picks a film that
        leaves one member with nothing if the others like it enough; pure least misery
        (the min) protects everyone but ignores how much the rest like it, ties easily and
        gets bland as groups grow. Mixing in the min is a smooth form of Masthoff's
        "average without misery", which her participants' own group choices resembled: a
        film everyone can enjoy beats one that delights most and leaves one out, when it
        is close. The weight is small because offline it costs accuracy: random groups of
        ml-100k users, a fifth of each member's likes held out (the published model had
        trained on them, so only the comparison counts), hits@10 per member were
        1.37 / 1.29 / 1.17 (groups of 3) and 0.95 / 0.92 / 0.85 (groups of 5) at weight
        0 / 0.25 / 0.5. The same check backs the normalisation: averaging raw scores
        instead lifted those hits (1.53) by serving the members with most likes, and
        cut the groups where every member got a hit from 27% to 23%.

        Cold members, who liked nothing the model knows, have no taste to aggregate: they
        are left out of the group score and of ``for_whom`` (their dislikes are still
        excluded), and their ``member_scores`` entry is the popular score (damped mean
        rating, relative to the best one) the bot would give them alone. With
        every member cold, picks are the popular, well-rated items of :meth:`recommend`,
        each ``for_whom`` everyone.

        ``for_whom`` names the non-cold members whose score for the pick is within
        ``FOR_WHOM_MARGIN`` of the highest; ``because`` interleaves their liked titles
        behind it (at most ``GROUP_BECAUSE``); ``source`` is "collaborative" when one of
        them is scored so, "content" for the rest and "popular" with everyone cold. One
        matrix product scores every collaborative member at once: a group of 10 on 87,000
        items at rank 64 takes about 5 ms on one core.
        """
        if not members:
            raise ValueError("A group needs at least one member.")
        prefs = [(self._known(likes), self._known(dislikes)) for likes, dislikes in members]
        unseen = np.ones(len(self.ids), dtype=bool)  # nobody liked, disliked or excluded it
        for likes, dislikes in prefs:
            unseen[self.rows_of(likes)] = False
            unseen[self.rows_of(dislikes)] = False
        unseen[self.rows_of(exclude)] = False
        allowed = self._allowed(kind, genres, None, None) & unseen
        if n <= 0 or not allowed.any():
            return []

        like_rows = [self.rows_of(likes) for likes, _ in prefs]
        systems = [self._likes_system(likes, dislikes) for likes, dislikes in prefs]
        collaborative = [i for i, system in enumerate(systems) if np.any(system[0])]
        content = [i for i in range(len(prefs))
                   if i not in collaborative and len(like_rows[i])]
        warm = sorted(collaborative + content)
        cold = [i for i in range(len(prefs)) if i not in warm]

        # One row per member, collaborative first, then content, then cold, so the warm
        # rows are one slice: member i is row at[i].
        order = collaborative + content + cold
        at = {i: k for k, i in enumerate(order)}
        member = np.empty((len(prefs), len(self.ids)))
        if collaborative:
            vectors = np.stack([systems[i][0] for i in collaborative]).astype(np.float32)
            block = member[:len(collaborative)]
            block[:] = vectors @ self.factors.T  # every collaborative member in one product
            top = np.max(block, axis=1, where=unseen & self.has_factors, initial=0.0)
            block /= np.where(top > 0, top, 1.0)[:, None]
            np.clip(block, 0.0, 1.0, out=block)
            unrated = np.flatnonzero(allowed & ~self.has_factors)
            if len(unrated):
                for k, i in enumerate(collaborative):
                    block[k, unrated] = CONTENT_WEIGHT * self._content_scores(like_rows[i],
                                                                              unrated)
        for i in content:
            member[at[i]] = _relative(self._content_scores(like_rows[i]), unseen)
        if cold:
            member[len(warm):] = _relative(self.quality / 5.0, unseen)

        if warm:
            scores = member[:len(warm)]
            group = (1 - MISERY_WEIGHT) * scores.mean(axis=0) + MISERY_WEIGHT * scores.min(
                axis=0)
        else:
            group = self.quality / 5.0  # as recommend() with no likes
        chosen = self._top(group, allowed, n)

        for_whom = {}
        for r in chosen.tolist():
            if warm:
                best = member[:len(warm), r].max()
                for_whom[r] = tuple(i for i in warm if member[at[i], r] >= best - FOR_WHOM_MARGIN)
            else:
                for_whom[r] = tuple(range(len(prefs)))
        reasons: dict[int, dict[int, tuple[str, ...]]] = {}  # member -> row -> titles
        for i in warm:
            rows = np.array([r for r in chosen.tolist() if i in for_whom[r]], dtype=np.int64)
            reasons[i] = self._because(rows, like_rows[i], systems[i])

        picks = []
        for r in chosen.tolist():
            lists = [reasons[i].get(r, ()) for i in for_whom[r] if i in reasons]
            titles = [t for rank in zip_longest(*lists) for t in rank if t is not None]
            because = tuple(dict.fromkeys(titles))[:GROUP_BECAUSE]
            if not warm:
                source = "popular"
            elif self.has_factors[r] and any(i in collaborative for i in for_whom[r]):
                source = "collaborative"
            else:
                source = "content"
            picks.append(GroupPick(
                item=self._result(r, float(group[r]), because, source), for_whom=for_whom[r],
                member_scores=tuple(round(float(member[at[i], r]), 6)
                                    for i in range(len(prefs)))))
        return picks

    def _top(self, score: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
        """Rows of the ``k`` best allowed scores, best first, ties by item id.

        A partial selection finds the k-th best score; everything at or above it
        (ties included, so the choice is deterministic) is then fully sorted.
        """
        candidates = np.flatnonzero(allowed)
        if len(candidates) > k:
            values = score[candidates]
            threshold = np.partition(values, len(values) - k)[len(values) - k]
            candidates = candidates[values >= threshold]
        order = np.lexsort((self.ids[candidates], -score[candidates]))
        return candidates[order][:k]

    def explain(self, likes: Sequence[int], dislikes: Sequence[int],
                item_id: int) -> Recommendation | None:
        """How ``item_id`` scores for this taste, with its reasons (None if unknown)."""
        if int(item_id) not in self.row:
            return None
        likes, dislikes = self._known(likes), self._known(dislikes)
        like_rows = self.rows_of(likes)
        system = self._likes_system(likes, dislikes)
        r = self.row[int(item_id)]
        if np.any(system[0]) and self.has_factors[r]:
            scores = self.scores(system[0])
            top = scores[self.has_factors].max(initial=0.0)
            score, source = float(scores[r] / top) if top > 0 else 0.0, "collaborative"
        elif len(like_rows):
            score, source = float(self._content_scores(like_rows, np.array([r]))[0]), "content"
        else:
            score, source = float(self.quality[r] / 5.0), "popular"
        rows = np.array([r])
        return self._result(r, score, self._because(rows, like_rows, system).get(r, ()), source)

    def similar(self, item_id: int, n: int = 10, exclude: Iterable[int] = ()) -> list[
            Recommendation]:
        """Items closest to ``item_id``: cosine in factor space, or genres without factors."""
        if int(item_id) not in self.row:
            raise KeyError(f"unknown item_id {item_id}")
        r = self.row[int(item_id)]
        if self.has_factors[r]:
            sims = (self.unit_factors @ self.unit_factors[r]).astype(np.float64)
            sims[~self.has_factors] = -np.inf
            source = "collaborative"
        else:
            sims = (self.unit_genres @ self.unit_genres[r]) * (self.quality / 5.0)
            source = "content"
        allowed = np.ones(len(self.ids), dtype=bool)
        allowed[r] = False
        allowed[self.rows_of(exclude)] = False
        candidates = np.flatnonzero(allowed & np.isfinite(sims))
        order = candidates[np.lexsort((self.ids[candidates], -sims[candidates]))][:n]
        return [self._result(c, float(sims[c]), (self.titles[r],), source) for c in order]

    # ----- helpers --------------------------------------------------------------------

    def _allowed(self, kind: str | None, genres: Sequence[str],
                 years: tuple[int, int] | None, min_imdb_rating: float | None) -> np.ndarray:
        allowed = np.ones(len(self.ids), dtype=bool)
        if kind is not None:
            allowed &= self.kinds == kind
        for genre in genres:
            name = self._lower_genre.get(str(genre).lower())
            if name is None:
                return np.zeros(len(self.ids), dtype=bool)
            allowed &= self.genre_matrix[:, self.genre_names.index(name)] > 0
        if years is not None:
            lo, hi = years
            with np.errstate(invalid="ignore"):
                allowed &= (self.years >= lo) & (self.years <= hi)
        if min_imdb_rating is not None:
            with np.errstate(invalid="ignore"):
                allowed &= self.imdb_rating >= min_imdb_rating
        return allowed

    def mmr(self, pool: np.ndarray, score: np.ndarray, n: int, diversity: float) -> np.ndarray:
        """Re-rank catalogue rows ``pool`` by maximal marginal relevance.

        Greedily picks the row maximising (1 - diversity)·score - diversity·(highest
        similarity to a row already picked); ``score`` is indexed by catalogue row.
        """
        has = self.has_factors[pool]
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
            factor_sims = self.unit_factors[pool] @ self.unit_factors[pool[pick]]
            genre_sims = self.unit_genres[pool] @ self.unit_genres[pool[pick]]
            max_sim = np.maximum(max_sim, np.where(has & has[pick], factor_sims, genre_sims))
        return pool[chosen]

    def _because(self, rows: np.ndarray, like_rows: np.ndarray,
                 system: tuple) -> dict[int, tuple[str, ...]]:
        """The liked titles contributing most to each score.

        Collaborative scores split exactly into per-like shares (1 + c_j)·y_iᵀA⁻¹y_j
        (``system`` is the fold-in's (x, A, weights, rows)); items scored on content
        are explained by the likes whose genres match best.
        """
        if len(rows) == 0 or len(like_rows) == 0:
            return {}
        _, a, weights, used = system
        positive = weights > 0
        factor_rows = used[positive]
        if positive.any():
            shares = (self.factors[rows].astype(np.float64) @ np.linalg.inv(a)) @ (
                self.factors[factor_rows].astype(np.float64).T * weights[positive])
        genre_shares = self.unit_genres[rows] @ self.unit_genres[like_rows].T
        out: dict[int, tuple[str, ...]] = {}
        for k, r in enumerate(rows):
            if self.has_factors[r] and positive.any():
                source_rows, row_shares = factor_rows, shares[k]
            else:
                source_rows, row_shares = like_rows, genre_shares[k]
            best = np.argsort(-row_shares, kind="stable")[:2]
            out[int(r)] = tuple(self.titles[source_rows[j]] for j in best if row_shares[j] > 0)
        return out

    def _result(self, r: int, score: float, because: tuple[str, ...],
                source: str) -> Recommendation:
        year = self.years[r]
        return Recommendation(
            item_id=int(self.ids[r]), title=self.titles[r],
            year=None if math.isnan(year) else int(year), kind=str(self.kinds[r]),
            score=round(score, 6), because=because, source=source,
            genres=self.genre_lists[r])


def _relative(score: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``score`` divided by its best value where ``where`` (unchanged if that is not > 0)."""
    top = score[where].max(initial=0.0)
    return score / top if top > 0 else score.astype(np.float64)

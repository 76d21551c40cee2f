"""Serving: recommendations for anyone, in microseconds, from a published artifact.

numpy only (no Spark, no Java). :class:`Recommender` is a facade over four parts:

* :mod:`recommender.catalogue`: the items, their metadata and factors, the filters;
* :mod:`recommender.scorers`: how likes and dislikes become scores (the neighbourhood
  over the ALS item factors by default, Spark's exact fold-in, content, popularity),
  each score split into the rated items' shares that ``because`` reports;
* :mod:`recommender.ranker`: the top n and the MMR re-ranking;
* :mod:`recommender.group`: movie night, one list for several people.

Which scorer serves is the model's :class:`~recommender.config.ServingConfig`.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recommender import artifacts, group, ranker
from recommender.catalogue import PRIOR_IMDB_VOTES, PRIOR_RATINGS, Catalogue, Taste
from recommender.config import ServingConfig
from recommender.content import ContentFactors
from recommender.errors import ModelError
from recommender.group import FOR_WHOM_MARGIN, GROUP_BECAUSE, MISERY_WEIGHT
from recommender.neighbours import Neighbours
from recommender.scorers import CONTENT_WEIGHT, Scores, ServingRule, with_content

__all__ = ["CONTENT_WEIGHT", "FOR_WHOM_MARGIN", "GROUP_BECAUSE", "MISERY_WEIGHT",
           "PRIOR_IMDB_VOTES", "PRIOR_RATINGS", "GroupPick", "Recommendation", "Recommender"]

# At most this many liked items explain a single user's recommendation.
BECAUSE = 2

# (liked item id, its share of the score), best first.
Because = tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class Recommendation:
    item_id: int
    title: str
    year: int | None
    kind: str
    score: float
    because: Because  # the liked items behind ``score``, with their shares of it
    source: str  # "collaborative", "content" or "popular"
    genres: tuple[str, ...] = ()
    imdb_id: str | None = None  # "tt0133093" where known


@dataclass(frozen=True)
class GroupPick:
    """One pick for a group: the item with its group score, and whom it suits best."""

    item: Recommendation  # score: the group score; because: liked items behind it
    for_whom: tuple[int, ...]  # indexes into ``members`` of those it suits best (1+)
    member_scores: tuple[float, ...]  # each member's normalised score (0..1), member order


# The catalogue's row-aligned arrays, readable on the Recommender as before the split.
_CATALOGUE = frozenset({
    "ids", "row", "titles", "years", "kinds", "genre_lists", "alt_titles", "imdb_ids",
    "imdb_rating", "imdb_votes", "factors", "has_factors", "popularity", "mean_rating",
    "genre_names", "genre_matrix", "unit_genres", "quality"})


def trim_heap() -> None:
    """Hand memory freed while loading back to the OS (glibc keeps it otherwise): the
    items read while building a catalogue of 87,000 leave ~50 MB behind."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Recommender:
    """A model ready to serve. Build with :meth:`load` (or :meth:`from_arrays`)."""

    def __init__(self, *, item_ids: np.ndarray, item_factors: np.ndarray,
                 popularity: np.ndarray, mean_rating: np.ndarray, items: Iterable[dict],
                 params: dict, version: str = "in-memory", meta: dict | None = None,
                 serving: ServingConfig | None = None,
                 neighbours: Neighbours | Callable[[], Neighbours | None] | None = None,
                 content: ContentFactors | None = None) -> None:
        self.version = version
        self.meta = dict(meta or {})  # model.json: trained_at, counts, metrics
        self.params = dict(params)
        self.alpha = float(params.get("alpha", 1.0))
        self.reg_param = float(params.get("reg_param", 0.1))
        self.scheme = str(params.get("scheme", "raw"))
        self.serving = serving or ServingConfig.of_meta(self.meta)
        # The like neighbours cost memory (8 bytes each): kept only when they serve.
        uses_neighbours = self.serving.cooccurrence_weight > 0 and self.serving.scorer != "fold-in"
        self.catalogue = Catalogue(item_ids, item_factors, popularity, mean_rating, items,
                                   neighbours if uses_neighbours else None, content)
        self.rule = ServingRule(self.catalogue, self.params, self.serving)
        self.like_strength = self.rule.fold_in.like_strength
        self.yty = self.rule.fold_in.yty

    def __getattr__(self, name: str):  # only called for names not set on the instance
        if name in _CATALOGUE:
            return getattr(self.catalogue, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

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
        artifact = artifacts.read_artifact(Path(model_dir), neighbours_later=True)
        # An iterator: it lets go of the parsed items as the catalogue takes them in.
        artifact["items"] = iter(artifact["items"])
        loaded = cls(**artifact, serving=ServingConfig.of_meta(artifact["meta"]))
        del artifact
        trim_heap()
        return loaded

    @classmethod
    def from_arrays(cls, item_ids: np.ndarray, item_factors: np.ndarray, params: dict,
                    items: Sequence[dict] = (), popularity: np.ndarray | None = None,
                    mean_rating: np.ndarray | None = None,
                    serving: ServingConfig | None = None,
                    neighbours: Neighbours | None = None,
                    content: ContentFactors | None = None) -> Recommender:
        """A model straight from training output (evaluation uses this); ``content``:
        factors predicted from content for items without trained ones."""
        n = len(item_ids)
        return cls(item_ids=np.asarray(item_ids, dtype=np.int64),
                   item_factors=np.asarray(item_factors, dtype=np.float32),
                   popularity=np.zeros(n) if popularity is None else popularity,
                   mean_rating=np.full(n, np.nan) if mean_rating is None else mean_rating,
                   items=items, params=params, serving=serving, neighbours=neighbours,
                   content=content)

    # ----- the catalogue and the fold-in ------------------------------------------------

    def rows_of(self, item_ids: Iterable[int]) -> np.ndarray:
        """Catalogue rows of the given ids that exist (unknown ids are skipped)."""
        return self.catalogue.rows_of(item_ids)

    def titles_of(self, item_ids: Iterable[int]) -> list[str]:
        """Titles of the given ids, e.g. of the liked items in a ``because``."""
        return self.catalogue.titles_of(item_ids)

    def imdb_id(self, item_id: int) -> str | None:
        """The IMDb id of an item ("tt0133093"), None where unknown."""
        row = self.catalogue.row.get(int(item_id))
        return None if row is None else self.catalogue.imdb_ids[row]

    def fold_in(self, item_ids: Sequence[int], values: Sequence[float]) -> np.ndarray:
        """The user vector for preference strengths ``values`` (as Spark would train it).

        ``values`` are already-transformed strengths (see :mod:`recommender.preferences`):
        positive means "likes", negative "confidently not". Items without factors and
        unknown ids are ignored. Returns zeros when there is no positive evidence.
        """
        return self.rule.fold_in.solve(item_ids, values).x

    def user_vector_for(self, likes: Sequence[int], dislikes: Sequence[int] = ()) -> np.ndarray:
        """The folded-in vector of someone who liked ``likes`` and disliked ``dislikes``."""
        return self.rule.fold_in.solve_likes(likes, dislikes).x

    def scores(self, user_vector: np.ndarray) -> np.ndarray:
        """Collaborative scores of every catalogue item (items without factors score 0)."""
        return self.rule.fold_in.scores(user_vector)

    # ----- the API the bot uses -----------------------------------------------------

    def _serve(self, taste: Taste, allowed: np.ndarray) -> Scores:
        """The serving rule: collaborative scores (items without factors on content),
        content if only items without factors were liked, popularity if nothing was."""
        collaborative, relative = self.rule.single(taste)
        if collaborative is not None:
            unrated = self.catalogue.unrated(allowed)
            # The best servable score scales relative scores and caps content ones; a
            # request needing neither skips a pass over the catalogue.
            best = float(np.max(collaborative.values, where=allowed & self.catalogue.has_factors,
                                initial=0.0)) if relative or len(unrated) else 0.0
            return with_content(collaborative, relative, best, self.rule.content, taste,
                                unrated)
        if len(taste.like_rows):
            found = self.rule.content.score(taste)
            assert found is not None
            return found
        return self.rule.popularity.score(taste)

    def recommend(self, likes: Sequence[int], dislikes: Sequence[int] = (), n: int = 10,
                  exclude: Iterable[int] = (), kind: str | None = None,
                  genres: Sequence[str] = (), years: tuple[int, int] | None = None,
                  min_imdb_rating: float | None = None, *,
                  diversity: float = 0.0, neutral: Sequence[int] = ()) -> list[Recommendation]:
        """Top ``n`` items for someone who liked ``likes`` and disliked ``dislikes``
        (and rated ``neutral`` in between: weak interest, by the one rating rule).

        Filters are exact: ``kind`` ("movie"/"tv"), every genre in ``genres``,
        ``years`` inclusive, ``min_imdb_rating`` (items without one are dropped).
        Liked, disliked and excluded items never come back. ``diversity`` in [0, 1]
        re-ranks with maximal marginal relevance (0: off).
        """
        if n <= 0:
            return []
        taste = self.catalogue.taste(likes, dislikes, neutral)
        allowed = self.catalogue.allowed(kind, genres, years, min_imdb_rating)
        for rows in (taste.like_rows, taste.dislike_rows, taste.neutral_rows,
                     self.rows_of(exclude)):
            allowed[rows] = False
        scores = self._serve(taste, allowed)
        pool = ranker.top_n(scores.values, allowed, max(10 * n, 50) if diversity > 0 else n,
                            self.catalogue.ids)
        chosen = self.mmr(pool, scores.values, n, diversity) if diversity > 0 else pool
        because = scores.because(chosen, BECAUSE)
        return [self._result(r, float(scores.values[r]), because.get(r, ()),
                             scores.source_of(r)) for r in chosen.tolist()]

    def recommend_group(self, members: Sequence[tuple[Sequence[int], Sequence[int]]],
                        n: int = 5, exclude: Iterable[int] = (), kind: str | None = None,
                        genres: Sequence[str] = ()) -> list[GroupPick]:
        """Top ``n`` items for a group to watch together ("movie night").

        ``members[i]`` is member i's (likes, dislikes). Nothing any member liked or
        disliked comes back, nor anything in ``exclude`` (pass the union of the members'
        seen, rated, not-interested and watchlist items). ``kind`` and ``genres`` filter
        as in :meth:`recommend`. Raises ``ValueError`` for an empty group: there is nobody
        to name in ``for_whom``, and the caller should ask people to join first. How the
        members' scores make the group's: :mod:`recommender.group`.
        """
        if not members:
            raise ValueError("A group needs at least one member.")
        tastes = [self.catalogue.taste(likes, dislikes) for likes, dislikes in members]
        unseen = np.ones(len(self.catalogue), dtype=bool)  # nobody rated or excluded it
        for taste in tastes:
            unseen[taste.like_rows] = False
            unseen[taste.dislike_rows] = False
        unseen[self.rows_of(exclude)] = False
        allowed = self.catalogue.allowed(kind, genres) & unseen
        return [GroupPick(item=self._result(c.row, c.score, c.because, c.source),
                          for_whom=c.for_whom, member_scores=c.member_scores)
                for c in group.recommend_group(self.rule, tastes, allowed, unseen, n)]

    def explain(self, likes: Sequence[int], dislikes: Sequence[int],
                item_id: int, neutral: Sequence[int] = ()) -> Recommendation | None:
        """How ``item_id`` scores for this taste, with its reasons (None if unknown).

        A collaborative ``score`` is relative to the best of every item with factors
        (liked ones included): the bot reports it as "match 80% of your best pick".
        """
        if int(item_id) not in self.catalogue.row:
            return None
        taste = self.catalogue.taste(likes, dislikes, neutral)
        r = self.catalogue.row[int(item_id)]
        rows = np.array([r])
        collaborative, relative = self.rule.single(taste)
        has = self.catalogue.has_factors
        if collaborative is not None and has[r]:
            top = float(np.max(collaborative.values, where=has, initial=0.0))
            scores = collaborative.rescaled(over=top) if top > 0 else collaborative
            score = float(scores.values[r]) if top > 0 else 0.0
            if relative and top > 0:  # the fold-in's in float32, as it has always been
                score = float(np.float32(collaborative.values[r]) / np.float32(top))
        elif len(taste.like_rows):
            found = self.rule.content.score(taste, rows)  # at full weight, unlike a list
            assert found is not None
            scores, score = found, float(found.values[r])
        else:
            scores = self.rule.popularity.score(taste)
            score = float(scores.values[r])
        source = "content" if self.catalogue.predicted[r] else scores.source_of(r)
        return self._result(r, score, scores.because(rows, BECAUSE).get(r, ()), source)

    def similar(self, item_id: int, n: int = 10, exclude: Iterable[int] = ()) -> list[
            Recommendation]:
        """Items closest to ``item_id``: cosine in factor space, or genres without factors.

        ``because`` is ``item_id`` itself, its share the whole similarity.
        """
        cat = self.catalogue
        if int(item_id) not in cat.row:
            raise KeyError(f"unknown item_id {item_id}")
        r = cat.row[int(item_id)]
        in_factors = bool(cat.has_factors[r])
        if in_factors:
            sims = ((cat.factors @ cat.unit_factors(np.array([r]))[0]) / cat.factor_norms
                    ).astype(np.float64)
            sims[~cat.has_factors] = -np.inf
        else:
            sims = (cat.unit_genres @ cat.unit_genres[r]) * (cat.quality / 5.0)
        allowed = np.ones(len(cat), dtype=bool)
        allowed[r] = False
        allowed[self.rows_of(exclude)] = False
        order = ranker.top_n(sims, allowed & np.isfinite(sims), n, cat.ids).tolist()
        # A pair is collaborative evidence only when both factors were trained.
        return [self._result(c, float(sims[c]), ((int(item_id), float(sims[c])),),
                             "collaborative" if in_factors and cat.trained[[r, c]].all()
                             else "content")
                for c in order]

    def mmr(self, pool: np.ndarray, score: np.ndarray, n: int, diversity: float) -> np.ndarray:
        """Re-rank catalogue rows ``pool`` by maximal marginal relevance (see ranker.mmr)."""
        return ranker.mmr(pool, score, n, diversity, self.catalogue)

    def _result(self, r: int, score: float, because: Because, source: str) -> Recommendation:
        cat = self.catalogue
        year = cat.years[r]
        return Recommendation(
            item_id=int(cat.ids[r]), title=cat.titles[r],
            year=None if math.isnan(year) else int(year), kind=str(cat.kinds[r]),
            score=round(score, 6), because=because, source=source,
            genres=cat.genre_lists[r], imdb_id=cat.imdb_ids[r])

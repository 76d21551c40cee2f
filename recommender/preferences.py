"""What a star rating means: one rule for the bot, training, the retraining gate and serving.

A rating of ``LIKED_AT_LEAST`` stars or more is a like, ``DISLIKED_AT_MOST`` or less a
dislike, anything between is neutral (:func:`opinion`); :func:`split` applies it to what
a user told the bot. The bot stores 👍 as 5 stars and 👎 as 1, so a button and a rating
say the same thing.

How a rating becomes an implicit-ALS preference strength:

Spark's implicit ALS reads a number r per (user, item): confidence is
1 + alpha*|r| and the preference is 1 when r > 0, else 0 (a negative r says
"confidently not"). A scheme maps each half-star rating to that r. The same table
drives training (as a Spark expression) and fold-in (as numpy), so the two never
disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pyspark.sql import Column

HALF_STARS = tuple(x / 2 for x in range(1, 11))
LIKED_AT_LEAST = 3.5
DISLIKED_AT_MOST = 2.0


def opinion(stars: float) -> str:
    """"like", "dislike" or "neutral" for one half-star rating."""
    if stars >= LIKED_AT_LEAST:
        return "like"
    return "dislike" if stars <= DISLIKED_AT_MOST else "neutral"


def split(rated: Iterable[tuple[int, float | None]]) -> tuple[list[int], list[int], list[int]]:
    """(likes, dislikes, neutral) item ids of one user's (item id, stars) pairs.

    The one rule, for what a user told the bot: :func:`opinion` reads each rating, and
    ``None`` stars (not interested) count as a dislike. Each list keeps the input order
    (storage gives newest first); an item is a dislike once however often it comes.
    """
    said: dict[str, list[int]] = {"like": [], "neutral": [], "dislike": []}
    for item, stars in rated:
        said["dislike" if stars is None else opinion(float(stars))].append(int(item))
    return said["like"], list(dict.fromkeys(said["dislike"])), said["neutral"]


def is_like(ratings: np.ndarray) -> np.ndarray:
    """Which of an array of ratings are likes."""
    return np.asarray(ratings, dtype=np.float64) >= LIKED_AT_LEAST


def is_dislike(ratings: np.ndarray) -> np.ndarray:
    """Which of an array of ratings are dislikes."""
    return np.asarray(ratings, dtype=np.float64) <= DISLIKED_AT_MOST


SCHEMES: dict[str, dict[float, float]] = {
    # Every rating is evidence of interest; higher stars are stronger evidence.
    "raw": {s: s for s in HALF_STARS},
    # Every rating is the same evidence: what the user chose to watch.
    "binary": dict.fromkeys(HALF_STARS, 1.0),
    # Ratings below 3 become confident negatives; 3 and up positives by their margin.
    "signed": {s: s - 2.5 for s in HALF_STARS},
    # Liked (>= 4) is a positive, disliked (<= 2) a negative, the middle is weak interest.
    "liked": {s: 1.0 if s >= 4 else (-1.0 if s <= 2 else 0.25) for s in HALF_STARS},
    # The opinion itself, the default: a like is a positive, a neutral rating weak
    # interest, a dislike a confident negative, for MovieLens and the bot alike. Chosen by
    # `tune --objective new-user` over "binary" (README, "Choosing the defaults").
    "opinion": {s: {"like": 1.0, "neutral": 0.5, "dislike": -1.0}[opinion(s)]
                for s in HALF_STARS},
}


def strength(scheme: str, ratings: np.ndarray) -> np.ndarray:
    """Preference strengths for an array of half-star ratings."""
    table = SCHEMES[scheme]
    keys = np.array(list(table), dtype=np.float64)
    values = np.array(list(table.values()), dtype=np.float64)
    index = np.clip(np.rint(np.asarray(ratings, dtype=np.float64) * 2).astype(int) - 1,
                    0, len(keys) - 1)
    return values[index]


def spark_strength(scheme: str, rating: Column) -> Column:
    """The same mapping as a Spark column expression (no Python UDF: it runs on 25M rows)."""
    from pyspark.sql import functions as F

    table = SCHEMES[scheme]
    expr = None
    for stars, value in table.items():
        cond = F.abs(rating - F.lit(stars)) < 0.25
        expr = F.when(cond, F.lit(value)) if expr is None else expr.when(cond, F.lit(value))
    return expr.otherwise(F.lit(0.0)).cast("float")

"""How a star rating becomes an implicit-ALS preference strength.

Spark's implicit ALS reads a number r per (user, item): confidence is
1 + alpha*|r| and the preference is 1 when r > 0, else 0 (a negative r says
"confidently not"). A scheme maps each half-star rating to that r. The same table
drives training (as a Spark expression) and fold-in (as numpy), so the two never
disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pyspark.sql import Column

HALF_STARS = tuple(x / 2 for x in range(1, 11))

SCHEMES: dict[str, dict[float, float]] = {
    # Every rating is evidence of interest; higher stars are stronger evidence.
    "raw": {s: s for s in HALF_STARS},
    # Every rating is the same evidence: what the user chose to watch.
    "binary": dict.fromkeys(HALF_STARS, 1.0),
    # Ratings below 3 become confident negatives; 3 and up positives by their margin.
    "signed": {s: s - 2.5 for s in HALF_STARS},
    # Liked (>= 4) is a positive, disliked (<= 2) a negative, the middle is weak interest.
    "liked": {s: 1.0 if s >= 4 else (-1.0 if s <= 2 else 0.25) for s in HALF_STARS},
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
